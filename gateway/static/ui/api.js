// Calls to the catalog's HTTP API with the caller's token; its problem details (RFC 9457)
// become errors with a message a person can read.
import { token } from "./session.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(readable(status, problem));
    this.status = status;
    this.problem = problem;
  }
}

function readable(status, problem) {
  if (!problem || typeof problem !== "object") return `The catalog answered ${status}.`;
  const parts = [problem.title || `Error ${status}`];
  if (problem.detail) parts.push(problem.detail);
  const fields = (problem.errors || []).map((e) => `${e.field || "body"}: ${e.message}`);
  if (fields.length) parts.push(fields.join("; "));
  return parts.join(": ");
}

// `query` values may be arrays (repeated parameters); empty ones are left out.
export async function api(path, { method = "GET", body, query = {}, bearer = token() } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    for (const one of [].concat(value)) {
      if (one !== undefined && one !== null && one !== "") url.searchParams.append(name, one);
    }
  }
  const headers = { Accept: "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, {
      title: "The catalog cannot be reached",
      detail: "check the connection and try again",
    });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function databasePath(databaseId, ...rest) {
  return ["/v1/databases", databaseId, ...rest]
    .map((p, i) => (i ? encodeURIComponent(p) : p))
    .join("/");
}

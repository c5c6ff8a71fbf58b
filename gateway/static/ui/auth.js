// Signing in: paste an API token, or, when the catalog names an OIDC issuer and client, the
// authorization-code flow with PKCE (RFC 7636) against the issuer's discovery document.
import { api, ApiError } from "./api.js";
import { fill, h, notice } from "./dom.js";
import { signedIn } from "./session.js";

const PENDING = "catalog.oidc";
const CALLBACK = "/ui/callback";

// Check a token with the catalog before keeping it; a refusal reads as a sentence.
export async function signInWith(newToken) {
  try {
    const who = await api("/v1/me", { bearer: newToken });
    signedIn(newToken, who);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      throw new Error(
        `The catalog did not accept that token. ${error.problem?.detail || ""}`.trim(),
      );
    }
    throw error;
  }
}

export function signInView(main, config, { returnTo, message, go }) {
  document.title = "Sign in · Data catalog";
  const status = h("div", { id: "sign-in-status" }, message ? notice(message, "error") : null);
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-help",
  });
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        status.replaceChildren(notice("Checking the token…"));
        try {
          await signInWith(input.value.trim());
          go(returnTo);
        } catch (error) {
          status.replaceChildren(notice(error.message, "error"));
          input.focus();
        }
      },
    },
    h("label", { for: "token" }, "API token"),
    input,
    h(
      "p",
      { id: "token-help", class: "help" },
      "An API token from your catalog's admin (cat_…). It is kept in this tab only.",
    ),
    h("button", { type: "submit" }, "Sign in"),
  );
  const oidc = config.oidc
    ? h(
        "div",
        { class: "card" },
        h(
          "button",
          {
            type: "button",
            id: "oidc-sign-in",
            onclick: async () => {
              try {
                await startOidc(config.oidc, returnTo);
              } catch (error) {
                status.replaceChildren(notice(error.message, "error"));
              }
            },
          },
          `Sign in with ${new URL(config.oidc.issuer).host}`,
        ),
      )
    : null;
  fill(main, h("h1", {}, "Sign in"), status, oidc, form);
  input.focus();
}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discovery(issuer) {
  const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let response;
  try {
    response = await fetch(url);
  } catch {
    throw new Error(`The identity provider ${new URL(issuer).host} cannot be reached.`);
  }
  const found = response.ok ? await response.json().catch(() => null) : null;
  // OpenID Connect Discovery: the document names the issuer it was fetched from, and its
  // endpoints use the issuer's scheme (https, but for an issuer on this machine).
  const scheme = new URL(issuer).protocol;
  const sameScheme = (url) =>
    typeof url === "string" && URL.canParse(url) && new URL(url).protocol === scheme;
  if (
    !found ||
    found.issuer !== issuer ||
    !sameScheme(found.authorization_endpoint) ||
    !sameScheme(found.token_endpoint)
  ) {
    throw new Error(
      `The identity provider ${new URL(issuer).host} has no usable discovery document.`,
    );
  }
  return found;
}

export async function startOidc(oidc, returnTo) {
  const found = await discovery(oidc.issuer);
  const verifier = randomText();
  const state = randomText();
  const challenge = base64url(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  sessionStorage.setItem(
    PENDING,
    JSON.stringify({
      verifier,
      state,
      returnTo,
      clientId: oidc.client_id,
      issuer: oidc.issuer,
      tokenEndpoint: found.token_endpoint,
    }),
  );
  const url = new URL(found.authorization_endpoint);
  const params = {
    response_type: "code",
    client_id: oidc.client_id,
    redirect_uri: location.origin + CALLBACK,
    scope: oidc.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  };
  // Auth0 gives a JWT for the catalog's API only when asked for its audience.
  if (oidc.audience) params.audience = oidc.audience;
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  location.assign(url.toString());
}

// The issuer sent the browser back to /ui/callback: trade the code for a token.
export async function finishOidc(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  // Anyone can link to the callback: only the answer to the sign-in this tab started (its
  // state, from its issuer, RFC 9207) is read, the issuer's error message included.
  const issuer = params.get("iss");
  if (
    !pending ||
    !params.get("state") ||
    params.get("state") !== pending.state ||
    (issuer !== null && issuer !== pending.issuer)
  ) {
    throw new Error("This sign-in answer does not match a sign-in started here: sign in again.");
  }
  sessionStorage.removeItem(PENDING);
  if (params.get("error")) {
    throw new Error(
      `The identity provider refused the sign-in: ${params.get("error_description") || params.get("error")}`,
    );
  }
  let response;
  try {
    response = await fetch(pending.tokenEndpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: params.get("code") || "",
        redirect_uri: location.origin + CALLBACK,
        client_id: pending.clientId,
        code_verifier: pending.verifier,
      }),
    });
  } catch {
    throw new Error("The identity provider's token endpoint cannot be reached.");
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.access_token) {
    throw new Error(
      `The identity provider gave no token: ${answer.error_description || answer.error || response.status}`,
    );
  }
  await signInWith(answer.access_token);
  return pending.returnTo || "/ui/search";
}

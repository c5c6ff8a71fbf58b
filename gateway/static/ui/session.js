// The signed-in caller: the bearer token, kept in sessionStorage (gone with the tab), and who
// the catalog says it belongs to (GET /v1/me).

const TOKEN = "catalog.token";
const CALLER = "catalog.caller";

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function caller() {
  return JSON.parse(sessionStorage.getItem(CALLER) || "null");
}

export function signedIn(newToken, who) {
  sessionStorage.setItem(TOKEN, newToken);
  sessionStorage.setItem(CALLER, JSON.stringify(who));
}

export function signOut() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(CALLER);
}

export function canEdit() {
  const who = caller();
  return who !== null && (who.role === "editor" || who.role === "admin");
}

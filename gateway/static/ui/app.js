// The page's router: each path under /ui/ is a view, rendered from the path and the query, so
// every page can be linked and reloaded. Views return a function that stops what they started
// (polling), called when the page changes.
import { ApiError, api } from "./api.js";
import { finishOidc, signInView } from "./auth.js";
import { databaseView } from "./database.js";
import { databasesView } from "./databases.js";
import { fill, h, notice } from "./dom.js";
import { searchView } from "./search.js";
import { caller, signedIn, signOut, token } from "./session.js";
import { tableView } from "./table.js";

const VIEWS = [
  [/^\/ui\/search$/, searchView],
  [/^\/ui\/databases$/, databasesView],
  [/^\/ui\/databases\/([^/]+)$/, databaseView],
  [/^\/ui\/tables\/([^/]+)\/([^/]+)\/([^/]+)$/, tableView],
];

let config = { oidc: null };
let stop = () => {};

// `focus`: the id of the control to give the focus back to once the new page is drawn (the
// filter that was just ticked), so a keyboard user stays where they were.
function go(url, { replace = false, focus = null } = {}) {
  history[replace ? "replaceState" : "pushState"](null, "", url);
  render(focus);
}

function here() {
  return location.pathname + location.search;
}

function showCaller() {
  const who = caller();
  document.getElementById("caller").textContent = who ? `${who.subject} (${who.role})` : "";
  document.getElementById("sign-out").hidden = !token();
}

async function render(focus = null) {
  stop();
  stop = () => {};
  // Each render draws into a container of its own: one that a later render replaced (the
  // person moved on while it loaded) draws into a detached one, never over the newer page.
  const main = document.getElementById("main");
  const view = document.createElement("div");
  main.replaceChildren(view);
  main.setAttribute("aria-busy", "true");
  try {
    await draw(view);
  } finally {
    if (view.isConnected) {
      main.removeAttribute("aria-busy");
      if (focus) document.getElementById(focus)?.focus();
    }
  }
}

async function draw(view) {
  const path = location.pathname;
  showCaller();
  if (path === "/ui/callback") {
    try {
      go(await finishOidc(new URLSearchParams(location.search)), { replace: true });
    } catch (error) {
      history.replaceState(null, "", "/ui/search");
      signInView(view, config, { returnTo: "/ui/search", message: error.message, go });
    }
    return;
  }
  if (path === "/ui/" || path === "/ui") {
    go("/ui/search", { replace: true });
    return;
  }
  if (!token()) {
    signInView(view, config, { returnTo: here(), go });
    return;
  }
  const found = VIEWS.find(([pattern]) => pattern.test(path));
  const parts = found && decoded(path.match(found[0]).slice(1));
  if (!parts) {
    document.title = "Not found · Data catalog";
    fill(view, h("h1", {}, "Not found"), notice("This page does not exist.", "error"));
    return;
  }
  const show = found[1];
  try {
    const query = new URLSearchParams(location.search);
    const context = { parts, query, go, failed: (error) => failed(view, error) };
    const stopping = await show(view, context);
    if (stopping && view.isConnected) stop = stopping;
    else if (stopping) stopping();
  } catch (error) {
    failed(view, error);
  }
}

// A path's names, or null when one is not valid percent-encoding (a hand-edited link).
function decoded(segments) {
  try {
    return segments.map(decodeURIComponent);
  } catch {
    return null;
  }
}

// Any view's failure: an expired or revoked token asks to sign in again, the rest is shown.
function failed(main, error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut();
    showCaller();
    signInView(main, config, {
      returnTo: here(),
      message: "The catalog no longer accepts your token: sign in again.",
      go,
    });
    return;
  }
  main.append(notice(error.message, "error"));
}

async function start() {
  config = await api("/ui/config.json", { bearer: null }).catch(() => config);
  // A reloaded tab keeps its token; who it belongs to is asked again.
  if (token() && !caller()) {
    try {
      signedIn(token(), await api("/v1/me"));
    } catch {
      signOut();
    }
  }
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a");
    if (
      !link ||
      link.origin !== location.origin ||
      !link.pathname.startsWith("/ui/") ||
      // A link within the page (the skip link) is the browser's to follow.
      (link.pathname === location.pathname && link.search === location.search && link.hash) ||
      event.button !== 0 ||
      event.ctrlKey ||
      event.metaKey ||
      event.shiftKey ||
      event.altKey
    ) {
      return;
    }
    event.preventDefault();
    go(link.pathname + link.search + link.hash);
  });
  window.addEventListener("popstate", () => render());
  document.getElementById("sign-out").addEventListener("click", () => {
    signOut();
    go("/ui/search");
  });
  render();
}

start();

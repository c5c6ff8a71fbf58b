// Building the page. Every value goes in as text, never as HTML: a table named
// <img src=x onerror=alert(1)> shows as those characters.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  return add(element, children);
}

// Nested arrays are flattened; null, undefined and false left out; the rest added as nodes or
// as text.
function add(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// Put `children` in `element`, in place of what it held.
export function fill(element, ...children) {
  element.replaceChildren();
  return add(element, children);
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'" };

// The API's highlights are the name HTML-escaped with <em>…</em> around the matched parts. Only
// those markers are read (an escaped name cannot hold one); the rest becomes text, and the
// matched parts <mark>s.
export function highlighted(marked) {
  const out = [];
  let inside = false;
  for (const part of marked.split(/(<em>|<\/em>)/)) {
    if (part === "<em>") inside = true;
    else if (part === "</em>") inside = false;
    else if (part) {
      const text = part.replace(/&(amp|lt|gt|quot|#x27);/g, (entity) => ENTITIES[entity]);
      out.push(inside ? h("mark", {}, text) : text);
    }
  }
  return out;
}

// A status line that screen readers announce; `kind` is "error", "ok" or "" (neutral).
export function notice(text, kind = "") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function bytes(size) {
  if (size === null || size === undefined) return "unknown";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function count(value) {
  return value === null || value === undefined ? "unknown" : value.toLocaleString("en");
}

export function tablePath(databaseId, schema, table) {
  return `/ui/tables/${[databaseId, schema, table].map(encodeURIComponent).join("/")}`;
}

// Wide tables scroll sideways inside the page instead of widening it (360 px screens).
export function scrolling(table) {
  return h("div", { class: "scroll" }, table);
}

// Where a page sits: Databases › … (each step a link or text).
export function crumbs(...steps) {
  return h(
    "nav",
    { class: "crumbs", "aria-label": "Breadcrumb" },
    h("a", { href: "/ui/databases" }, "Databases"),
    steps.map((step) => [" › ", step]),
  );
}

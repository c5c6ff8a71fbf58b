// The databases: each with its engine and crawl state, a live progress bar while a crawl runs
// (polling GET /v1/databases), and for editors a register form with "test connection", and
// re-crawl and delete.
import { ApiError, api, databasePath } from "./api.js";
import { count, fill, h, notice, scrolling } from "./dom.js";
import { canEdit } from "./session.js";

const POLL_MS = 1000;
const ACTIVE = new Set(["queued", "running", "finishing"]);
const SSL_MODES = {
  postgresql: ["prefer", "disable", "allow", "require", "verify-ca", "verify-full"],
  mysql: ["preferred", "disabled", "required", "verify_ca", "verify_identity"],
};
const PORTS = { postgresql: 5432, mysql: 3306 };

export async function databasesView(main, { failed }) {
  document.title = "Databases · Data catalog";
  const status = h("div", { id: "databases-status" });
  const body = h("tbody");
  const list = h(
    "table",
    { class: "databases" },
    h("caption", { class: "visually-hidden" }, "Registered databases"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Name", "Engine", "Where", "Crawl", canEdit() ? "Actions" : null]
          .filter(Boolean)
          .map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    body,
  );
  let timer = 0;
  let stopped = false;
  let asked = 0;
  let failures = 0;
  let shown = ""; // the ids of the rows drawn, in order
  const refresh = async () => {
    clearTimeout(timer);
    const mine = ++asked;
    let items;
    try {
      ({ items } = await api("/v1/databases", { query: { limit: 500 } }));
    } catch (error) {
      if (stopped || mine !== asked) return;
      if (error instanceof ApiError && error.status === 401) return failed(error);
      // A blip (a restart, a 503, a 429): say so, and try again a little later.
      failures += 1;
      status.replaceChildren(notice(`${error.message} Trying again shortly.`, "error"));
      timer = setTimeout(refresh, POLL_MS * Math.min(2 ** failures, 30));
      return;
    }
    if (stopped || mine !== asked) return; // a later refresh has newer news
    if (failures) status.replaceChildren();
    failures = 0;
    const ids = items.map((d) => d.id).join(" ");
    if (ids === shown && items.length) {
      // The same databases: only their crawls move. Rows stay, and with them the focus.
      for (const d of items) {
        const cell = body.querySelector(`tr[data-database="${CSS.escape(d.id)}"] .crawl`);
        fill(cell, crawlCell(d));
      }
    } else {
      body.replaceChildren(...items.map((d) => row(d, status, refresh)));
      if (!items.length) {
        const columns = list.querySelectorAll("thead th").length;
        body.append(h("tr", {}, h("td", { colspan: columns }, "No database is registered yet.")));
      }
      shown = ids;
    }
    if (items.some((d) => d.crawl && ACTIVE.has(d.crawl.state))) {
      timer = setTimeout(refresh, POLL_MS);
    }
  };
  fill(
    main,
    h("h1", {}, "Databases"),
    status,
    scrolling(list),
    canEdit() ? registerForm(status, refresh) : null,
  );
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function row(database, status, refresh) {
  const where = `${database.host}:${database.port}${database.dbname ? `/${database.dbname}` : ""}`;
  const cells = [
    h(
      "th",
      { scope: "row" },
      h("a", { href: `/ui/databases/${encodeURIComponent(database.id)}` }, database.name),
    ),
    h("td", {}, database.engine),
    h("td", {}, h("code", {}, where)),
    h("td", { class: "crawl" }, crawlCell(database)),
  ];
  if (canEdit()) cells.push(h("td", { class: "actions" }, actions(database, status, refresh)));
  return h("tr", { "data-database": database.id }, cells);
}

function seconds(value) {
  if (value === null || value === undefined) return null;
  return value < 90 ? `${Math.round(value)} s` : `${Math.round(value / 60)} min`;
}

function crawlCell({ name, crawl }) {
  if (!crawl) return "never crawled";
  const state = h("span", { class: `state ${crawl.state}` }, crawl.state);
  if (ACTIVE.has(crawl.state)) {
    const total = crawl.batches_total;
    const bits = [
      total === null ? "planning" : `${crawl.batches_done} of ${total} batches`,
      crawl.tables_per_second ? `${crawl.tables_per_second.toFixed(1)} tables/s` : null,
      crawl.eta_seconds !== null ? `about ${seconds(crawl.eta_seconds)} left` : null,
      crawl.retrying ? `retrying after ${crawl.retrying.error_class}` : null,
    ].filter(Boolean);
    const bar = h("progress", {
      max: total || 1,
      value: total === null ? null : crawl.batches_done,
      "aria-label": `Crawl of ${name}`,
    });
    return [state, " ", bar, h("span", { class: "progress-text" }, bits.join(" · "))];
  }
  if (crawl.state === "complete") {
    const summary = `${count(crawl.tables)} tables, ${count(crawl.columns)} columns, in ${seconds(crawl.duration_seconds)}`;
    return [state, h("span", { class: "progress-text" }, summary)];
  }
  const why = crawl.error ? `${crawl.error.error_class}: ${crawl.error.message || ""}` : "";
  return [state, h("span", { class: "progress-text" }, why)];
}

function actions(database, status, refresh) {
  const act = (label, run) =>
    h(
      "button",
      {
        type: "button",
        "aria-label": `${label} ${database.name}`,
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            status.replaceChildren(notice(await run(), "ok"));
          } catch (error) {
            status.replaceChildren(notice(error.message, "error"));
          }
          event.target.disabled = false;
          await refresh();
        },
      },
      label,
    );
  return [
    act("Test", async () =>
      testReport(database.name, await api(databasePath(database.id, "test"), { method: "POST" })),
    ),
    act("Re-crawl", async () => {
      await api(databasePath(database.id, "crawls"), { method: "POST" });
      return `A crawl of ${database.name} is queued.`;
    }),
    act("Delete", async () => {
      if (!confirm(`Delete ${database.name}, its crawls and its documents?`))
        return "Nothing was deleted.";
      await api(databasePath(database.id), { method: "DELETE" });
      return `${database.name} is deleted.`;
    }),
  ];
}

function testReport(name, report) {
  if (report.error)
    return `${name}: cannot connect (${report.error.error_class}): ${report.error.message || ""}`;
  const failing = report.checks.filter((c) => !c.ok);
  const version = report.server_version ? ` (${report.server_version})` : "";
  if (!failing.length) return `${name}: connected${version}; every check passed.`;
  return `${name}: connected${version}, but: ${failing.map((c) => `${c.name}: ${c.detail}`).join("; ")}`;
}

function field(label, control, help) {
  if (help) control.setAttribute("aria-describedby", `${control.id}-help`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: control.id }, label),
    control,
    help ? h("p", { class: "help", id: control.getAttribute("aria-describedby") }, help) : null,
  );
}

function registerForm(status, refresh) {
  const input = (id, attrs = {}) => h("input", { id, name: id, ...attrs });
  const engine = h(
    "select",
    { id: "engine", name: "engine" },
    Object.keys(PORTS).map((e) => h("option", { value: e }, e)),
  );
  const sslmode = h("select", { id: "sslmode", name: "sslmode" });
  const port = input("port", { type: "number", min: 1, max: 65535, inputmode: "numeric" });
  const fitEngine = () => {
    port.placeholder = String(PORTS[engine.value]);
    sslmode.replaceChildren(
      h("option", { value: "" }, "the engine's default"),
      SSL_MODES[engine.value].map((m) => h("option", { value: m }, m)),
    );
  };
  engine.addEventListener("change", fitEngine);
  fitEngine();
  const fields = {
    name: input("name", { required: true, maxlength: 200 }),
    host: input("host", { required: true, maxlength: 255, autocomplete: "off" }),
    dbname: input("dbname", { maxlength: 255, autocomplete: "off" }),
    user: input("user", { required: true, maxlength: 255, autocomplete: "off" }),
    password: input("password", { type: "password", required: true, autocomplete: "new-password" }),
    ca_cert: h("textarea", { id: "ca_cert", name: "ca_cert", rows: 4 }),
  };
  const result = h("div", { id: "register-status" });
  const body = () => {
    const out = { engine: engine.value };
    for (const [name, control] of Object.entries(fields)) {
      // A password is sent as typed, spaces and all.
      const value = name === "password" ? control.value : control.value.trim();
      if (value) out[name] = value;
    }
    if (port.value) out.port = Number(port.value);
    if (sslmode.value) out.sslmode = sslmode.value;
    return out;
  };
  const tell = async (run) => {
    try {
      result.replaceChildren(notice(await run(), "ok"));
    } catch (error) {
      result.replaceChildren(notice(error.message, "error"));
    }
  };
  const form = h(
    "form",
    {
      class: "card register",
      onsubmit: (event) => {
        event.preventDefault();
        tell(async () => {
          const created = await api("/v1/databases", { method: "POST", body: body() });
          form.reset();
          fitEngine();
          await refresh();
          return `${created.name} is registered; its first crawl is queued.`;
        });
      },
    },
    h("h2", {}, "Register a database"),
    field("Name", fields.name),
    field("Engine", engine),
    field("Host", fields.host),
    field("Port", port),
    field(
      "Database",
      fields.dbname,
      "For mysql, the schema to crawl; empty: every schema the user can see.",
    ),
    field("User", fields.user),
    field("Password", fields.password, "Stored encrypted; never shown again."),
    field("TLS", sslmode),
    h(
      "details",
      {},
      h("summary", {}, "CA bundle (optional)"),
      field("CA certificates (PEM)", fields.ca_cert),
    ),
    h(
      "div",
      { class: "buttons" },
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            if (!form.reportValidity()) return;
            tell(async () =>
              testReport(
                fields.host.value,
                await api("/v1/connection-tests", { method: "POST", body: body() }),
              ),
            );
          },
        },
        "Test connection",
      ),
      h("button", { type: "submit" }, "Register"),
    ),
    result,
  );
  return form;
}

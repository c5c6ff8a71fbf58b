// One database's tables, a page at a time from GET /v1/databases/{id}/tables (schema, then
// name), each linked to its table page.
import { api, databasePath } from "./api.js";
import { bytes, count, crumbs, fill, h, notice, scrolling, tablePath } from "./dom.js";

const PAGE = 100;

export async function databaseView(main, { parts: [databaseId], failed }) {
  const database = await api(databasePath(databaseId));
  document.title = `${database.name} · Data catalog`;
  const body = h("tbody");
  const status = h("p", { class: "count", role: "status" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "More tables");
  let shown = 0;
  let cursor = null;
  const load = async () => {
    more.disabled = true;
    try {
      const page = await api(databasePath(databaseId, "tables"), {
        query: { limit: PAGE, cursor },
      });
      body.append(...page.items.map((t) => row(databaseId, t)));
      shown += page.items.length;
      cursor = page.next_cursor;
    } catch (error) {
      failed(error);
      return;
    } finally {
      more.disabled = false;
    }
    more.hidden = !cursor;
    status.textContent = `${count(shown)} tables${cursor ? " so far" : ""}`;
  };
  more.addEventListener("click", load);
  const heading = h("h1", { tabindex: "-1" }, database.name);
  fill(
    main,
    crumbs(database.name),
    heading,
    h(
      "p",
      {},
      `${database.engine} at `,
      h(
        "code",
        {},
        `${database.host}:${database.port}${database.dbname ? `/${database.dbname}` : ""}`,
      ),
    ),
  );
  if (database.live_generation === null) {
    main.append(
      notice(
        "No crawl of this database has completed yet: see its progress on the Databases page.",
      ),
    );
    return;
  }
  main.append(
    status,
    scrolling(
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, `Tables of ${database.name}`),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Table", "Type", "Columns", "Rows (estimate)", "Size"].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        body,
      ),
    ),
    more,
  );
  await load();
  heading.focus();
}

function row(databaseId, table) {
  return h(
    "tr",
    {},
    h(
      "th",
      { scope: "row" },
      h(
        "a",
        { href: tablePath(databaseId, table.schema, table.name) },
        `${table.schema}.${table.name}`,
      ),
    ),
    h("td", {}, table.type.replaceAll("_", " ")),
    h("td", {}, count(table.columns.length)),
    h("td", {}, count(table.row_estimate)),
    h("td", {}, bytes(table.size_bytes)),
  );
}

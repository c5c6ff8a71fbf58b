// A table's page: its columns, keys, indexes and size, the tables its foreign keys point to and
// from (as links), and its change history.
import { api, databasePath } from "./api.js";
import { bytes, count, crumbs, fill, h, scrolling, tablePath } from "./dom.js";

export async function tableView(main, { parts: [databaseId, schema, name] }) {
  document.title = `${schema}.${name} · Data catalog`;
  const [table, database, changes] = await Promise.all([
    api(databasePath(databaseId, "tables", schema, name)),
    api(databasePath(databaseId)),
    relationChanges(databaseId, schema, name),
  ]);
  const link = (s, t) => h("a", { href: tablePath(databaseId, s, t) }, `${s}.${t}`);
  const heading = h("h1", { tabindex: "-1" }, `${table.schema}.${table.name}`);
  fill(
    main,
    crumbs(
      h("a", { href: `/ui/databases/${encodeURIComponent(databaseId)}` }, database.name),
      table.schema,
    ),
    heading,
    table.comment ? h("p", { class: "comment" }, table.comment) : null,
    facts(table, link),
    h("h2", {}, "Columns"),
    scrolling(columnTable(table)),
    keys(table, link),
    indexes(table),
    table.definition ? [h("h2", {}, "Definition"), h("pre", {}, table.definition)] : null,
    history(changes, table),
  );
  const target =
    location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target) {
    target.classList.add("target");
    target.scrollIntoView({ block: "center" });
  } else {
    heading.focus();
  }
}

function facts(table, link) {
  const rows = [
    ["Type", table.type.replaceAll("_", " ")],
    ["Rows (estimate)", count(table.row_estimate)],
    ["Size", bytes(table.size_bytes)],
    table.storage_engine ? ["Storage engine", table.storage_engine] : null,
    table.partition_of ? ["Partition of", partitionParent(table, link)] : null,
    table.partitions !== null && table.partitions !== undefined
      ? ["Partitions", count(table.partitions)]
      : null,
  ].filter(Boolean);
  return h(
    "dl",
    { class: "facts" },
    rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

// partition_of is "schema.parent"; a parent in the partition's own schema is found even when
// that schema's name holds a dot.
function partitionParent(table, link) {
  const own = `${table.schema}.`;
  const whole = table.partition_of;
  const cut = whole.startsWith(own) ? own.length - 1 : whole.indexOf(".");
  return link(whole.slice(0, cut), whole.slice(cut + 1));
}

function columnTable(table) {
  const primary = new Set(table.primary_key);
  return h(
    "table",
    { class: "columns" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Name", "Type", "Nullable", "Default", "Comment"].map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    h(
      "tbody",
      {},
      table.columns.map((c) =>
        h(
          "tr",
          { id: `column-${c.name}` },
          h(
            "th",
            { scope: "row" },
            c.name,
            primary.has(c.name) ? h("span", { class: "badge" }, "primary key") : null,
          ),
          h("td", {}, h("code", {}, c.data_type)),
          h("td", {}, c.nullable ? "yes" : "no"),
          h("td", {}, defaultOf(c)),
          h("td", {}, c.comment || ""),
        ),
      ),
    ),
  );
}

function defaultOf(column) {
  if (column.generated) return ["generated: ", h("code", {}, column.generated)];
  if (column.auto_increment) return "auto increment";
  return column.default === null ? "" : h("code", {}, column.default);
}

function keys(table, link) {
  const list = (items, empty) =>
    items.length ? h("ul", { class: "keys" }, items) : h("p", {}, empty);
  const names = (columns) => columns.join(", ");
  return [
    h("h2", {}, "Keys"),
    h("h3", {}, "Primary key"),
    table.primary_key.length ? h("p", {}, names(table.primary_key)) : h("p", {}, "None."),
    h("h3", {}, "Foreign keys"),
    list(
      table.foreign_keys.map((fk) =>
        h(
          "li",
          {},
          `(${names(fk.columns)}) → `,
          link(fk.ref_schema, fk.ref_table),
          ` (${names(fk.ref_columns)})`,
          h("span", { class: "muted" }, ` ${fk.name}`),
        ),
      ),
      "None.",
    ),
    h("h3", {}, "Referenced by"),
    list(
      table.referenced_by.map((fk) =>
        h(
          "li",
          {},
          link(fk.schema, fk.table),
          ` (${names(fk.columns)}) → (${names(fk.ref_columns)})`,
          h("span", { class: "muted" }, ` ${fk.name}`),
        ),
      ),
      "No foreign key points here.",
    ),
  ];
}

function indexes(table) {
  if (!table.indexes.length) return [h("h2", {}, "Indexes"), h("p", {}, "None.")];
  return [
    h("h2", {}, "Indexes"),
    scrolling(
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Columns", "Unique", "Definition"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h(
          "tbody",
          {},
          table.indexes.map((i) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, i.name),
              h("td", {}, i.columns.join(", ")),
              h("td", {}, i.primary ? "primary" : i.unique ? "yes" : "no"),
              h("td", {}, h("code", {}, i.definition)),
            ),
          ),
        ),
      ),
    ),
  ];
}

// What differs, as the API's change detail says: {"columns": {"added": [...], "changed":
// [{"name", ...}]}, "primary_key": [was, is], ...}.
function differences(detail) {
  const parts = [];
  for (const [what, value] of Object.entries(detail)) {
    const name = what.replaceAll("_", " ");
    if (Array.isArray(value)) {
      parts.push(`${name} changed`);
      continue;
    }
    for (const [how, items] of Object.entries(value)) {
      const names = items.map((item) => (typeof item === "string" ? item : item.name));
      parts.push(`${name} ${how}: ${names.join(", ")}`);
    }
  }
  return parts.join("; ");
}

// Every change the history holds for the relation (few: one per crawl that found one at most),
// newest first; the API pages them oldest first.
async function relationChanges(databaseId, schema, name) {
  const changes = [];
  let cursor = null;
  do {
    const page = await api(databasePath(databaseId, "changes"), {
      query: { schema, table: name, limit: 500, cursor },
    });
    changes.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return changes.reverse();
}

function history(changes, table) {
  const described = (change) => {
    const away = change.schema !== table.schema || change.name !== table.name;
    const said =
      change.kind !== "renamed"
        ? change.kind
        : away // found under its old name: this table was renamed to another
          ? `renamed to ${change.schema}.${change.name}`
          : `renamed from ${change.old_schema}.${change.old_name}`;
    return change.detail && Object.keys(change.detail).length
      ? `${said}: ${differences(change.detail)}`
      : said;
  };
  return [
    h("h2", {}, "Change history"),
    changes.length
      ? h(
          "ol",
          { class: "history" },
          changes.map((c) =>
            h(
              "li",
              {},
              h("time", { datetime: c.changed_at }, new Date(c.changed_at).toLocaleString("en")),
              ": ",
              described(c),
            ),
          ),
        )
      : h("p", {}, "No change found since the first crawl."),
  ];
}

// One search box: names complete as you type (/v1/suggest), results come from /v1/search with
// their highlighted parts, matched columns and facet filters. The query and the filters live in
// the URL, so a result page can be linked.
import { api } from "./api.js";
import { fill, h, highlighted, notice, tablePath } from "./dom.js";

const PAGE = 20;
const SUGGEST_DELAY_MS = 120;
// facet field in the answer → its query parameter, and its heading
const FACETS = [
  ["database_id", "database_id", "Database"],
  ["schema", "schema", "Schema"],
  ["table_type", "type", "Table type"],
  ["data_type", "data_type", "Data type"],
];
// What a hit's `match` says, in words.
const WHY = {
  exact: "exact name",
  inflection: "plural or singular",
  abbreviation: "abbreviation",
  part: "matching words",
  prefix: "words starting so",
  substring: "inside a word",
  typo: "close spelling",
};
const KINDS = [
  ["", "Tables and columns"],
  ["table", "Tables"],
  ["column", "Columns"],
];

export async function searchView(main, { query, go, failed }) {
  const text = query.get("q") || "";
  document.title = text ? `${text} · Search · Data catalog` : "Search · Data catalog";
  const box = searchBox(text, (value) =>
    go(`/ui/search?${new URLSearchParams({ q: value })}`, { focus: "q" }),
  );
  const results = h("section", { class: "results", "aria-label": "Results" });
  const filters = h("aside", { class: "filters", "aria-label": "Filters" });
  fill(
    main,
    h("h1", { class: "visually-hidden" }, "Search"),
    box.form,
    h("div", { class: "search-layout" }, filters, results),
  );
  if (!text) {
    results.append(notice("Type a table or column name, or part of one: typos are fine."));
    box.input.focus();
    return box.stop;
  }
  const filter = (params, focus) => go(`/ui/search?${params}`, { focus });
  try {
    const [names, page] = await Promise.all([
      databaseNames(),
      api("/v1/search", { query: searchParams(query, { facets: "true" }) }),
    ]);
    filters.replaceChildren(...facetControls(query, page.facets, names, filter));
    showHits(results, page, names, query);
  } catch (error) {
    failed(error);
  }
  return box.stop;
}

async function databaseNames() {
  const { items } = await api("/v1/databases", { query: { limit: 500 } });
  return new Map(items.map((d) => [d.id, d.name]));
}

function searchParams(query, extra) {
  const params = { q: query.get("q"), limit: PAGE, ...extra };
  for (const name of ["kind", ...FACETS.map(([, param]) => param)]) {
    const values = query.getAll(name);
    if (values.length) params[name] = values;
  }
  return params;
}

function showHits(results, page, names, query) {
  const list = h("ol", { class: "hits", id: "hits" });
  const status = h("p", { class: "count", role: "status" });
  results.replaceChildren(status, list);
  let shown = 0;
  const add = (answer) => {
    list.append(...answer.hits.map((hit) => hitItem(hit, names)));
    shown += answer.hits.length;
    status.textContent = shown
      ? `${shown} result${shown === 1 ? "" : "s"}${answer.next_cursor ? " so far" : ""}`
      : "No table or column matches this search.";
    results.querySelector(".more")?.remove();
    if (answer.next_cursor) {
      const more = h(
        "button",
        {
          type: "button",
          class: "more",
          onclick: async () => {
            more.disabled = true;
            try {
              add(
                await api("/v1/search", {
                  query: searchParams(query, { cursor: answer.next_cursor }),
                }),
              );
            } catch (error) {
              // A crawl that finished since the first page makes its cursor stale (409).
              more.replaceWith(notice(error.message, "error"));
            }
          },
        },
        "More results",
      );
      results.append(more);
    }
  };
  add(page);
}

function hitItem(hit, names) {
  const link =
    tablePath(hit.database_id, hit.schema, hit.table) +
    (hit.column ? `#${encodeURIComponent(`column-${hit.column}`)}` : "");
  const own = hit.column ?? hit.table;
  const title = [`${hit.schema}.`, hit.column ? `${hit.table}.` : null];
  title.push(hit.highlight ? highlighted(hit.highlight) : own);
  const details = [
    h("span", { class: "badge" }, hit.kind),
    // A plain table says nothing more; a view or a partitioned table is worth saying.
    hit.table_type === "table" ? null : h("span", { class: "badge" }, words(hit.table_type)),
    hit.partitions ? h("span", { class: "badge" }, `${hit.partitions} partitions`) : null,
    hit.data_type ? h("code", {}, hit.data_type) : null,
    h("span", { class: "database" }, names.get(hit.database_id) || hit.database_id),
    hit.match ? h("span", { class: "why" }, ` · ${WHY[hit.match]}`) : null,
  ];
  const columns = hit.matched_columns.length
    ? h(
        "p",
        { class: "matched" },
        "Columns: ",
        hit.matched_columns.map((c, i) => [
          i ? ", " : "",
          h("span", { class: "column" }, highlighted(c.highlight), " ", h("code", {}, c.data_type)),
        ]),
      )
    : null;
  return h(
    "li",
    { class: "hit" },
    h("a", { href: link, class: "hit-title" }, title),
    h("p", { class: "details" }, details),
    hit.comment ? h("p", { class: "comment" }, hit.comment) : null,
    columns,
  );
}

function words(identifier) {
  return identifier.replaceAll("_", " ");
}

function facetControls(query, facets, names, filter) {
  const kind = query.get("kind") || "";
  const kindCounts = new Map((facets?.kind || []).map((f) => [f.value, f.count]));
  const kinds = h(
    "fieldset",
    {},
    h("legend", {}, "Kind"),
    KINDS.map(([value, label]) => {
      const id = `kind-${value || "any"}`;
      const counted = value && kindCounts.has(value) ? ` (${kindCounts.get(value)})` : "";
      return h(
        "div",
        { class: "choice" },
        h("input", {
          type: "radio",
          name: "kind",
          id,
          value,
          checked: value === kind,
          onchange: () => {
            const params = new URLSearchParams(query);
            params.delete("kind");
            // Data types are the columns' own: they cannot narrow a search for tables.
            if (value === "table") params.delete("data_type");
            if (value) params.set("kind", value);
            filter(params, id);
          },
        }),
        h("label", { for: id }, label + counted),
      );
    }),
  );
  const groups = FACETS.filter(([field]) => !(field === "data_type" && kind === "table")).map(
    ([field, param, heading]) => {
      const chosen = new Set(query.getAll(param));
      const counts = new Map((facets?.[field] || []).map((f) => [f.value, f.count]));
      for (const value of chosen) if (!counts.has(value)) counts.set(value, 0);
      if (!counts.size) return null;
      return h(
        "fieldset",
        {},
        h("legend", {}, heading),
        [...counts].map(([value, n]) => {
          // The same id for the same value on the next page, to give it the focus back.
          const id = `facet-${param}-${encodeURIComponent(value)}`;
          const label =
            field === "database_id"
              ? names.get(value) || value
              : field === "table_type"
                ? words(value)
                : value;
          return h(
            "div",
            { class: "choice" },
            h("input", {
              type: "checkbox",
              id,
              checked: chosen.has(value),
              onchange: (event) => {
                const params = new URLSearchParams(query);
                const kept = params.getAll(param).filter((v) => v !== value);
                if (event.target.checked) kept.push(value);
                params.delete(param);
                for (const v of kept) params.append(param, v);
                filter(params, id);
              },
            }),
            h("label", { for: id }, `${label} (${n})`),
          );
        }),
      );
    },
  );
  return [h("h2", {}, "Filters"), kinds, ...groups.filter(Boolean)];
}

// The box, its suggestion list (a combobox with a listbox: arrow keys move, Enter picks), and
// what to do with a query.
function searchBox(text, submit) {
  const input = h("input", {
    id: "q",
    name: "q",
    type: "search",
    value: text,
    autocomplete: "off",
    spellcheck: "false",
    role: "combobox",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": "suggestions",
  });
  const list = h("ul", {
    id: "suggestions",
    role: "listbox",
    "aria-label": "Suggestions",
    hidden: true,
  });
  let options = [];
  let active = -1;
  let timer = 0;
  let asked = 0;
  // Closing also drops the suggestions asked for and not yet shown (a late answer would
  // open the list again after Escape, or after the focus left).
  const close = () => {
    clearTimeout(timer);
    asked += 1;
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const pick = (index) => {
    active = index;
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) input.setAttribute("aria-activedescendant", options[index].id);
  };
  const suggest = async () => {
    const value = input.value.trim();
    const mine = ++asked;
    if (!value) return close();
    let answer;
    try {
      answer = await api("/v1/suggest", { query: { q: value, limit: 8 } });
    } catch {
      // Suggestions are a help: the search itself reports errors.
      if (mine === asked) close();
      return;
    }
    if (mine !== asked) return; // a later keystroke asked again, or the list was closed
    options = answer.suggestions.map((s, i) =>
      h(
        "li",
        {
          id: `suggestion-${i}`,
          role: "option",
          "aria-selected": "false",
          onmousedown: (event) => {
            event.preventDefault(); // keep the focus in the box
            input.value = s.name;
            close();
            submit(s.name);
          },
        },
        s.name,
        h("span", { class: "count" }, ` ${s.count}`),
      ),
    );
    list.replaceChildren(...options);
    list.hidden = !options.length;
    input.setAttribute("aria-expanded", String(Boolean(options.length)));
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, SUGGEST_DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden || !options.length) {
        if (event.key === "ArrowDown") suggest(); // open the list
        return;
      }
      const step = event.key === "ArrowDown" ? 1 : -1;
      pick((active + step + options.length) % options.length);
    } else if (event.key === "Enter" && active >= 0 && !list.hidden) {
      event.preventDefault();
      input.value = options[active].firstChild.textContent;
      close();
      submit(input.value.trim());
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", close);
  const form = h(
    "form",
    {
      role: "search",
      class: "search",
      onsubmit: (event) => {
        event.preventDefault();
        close();
        if (input.value.trim()) submit(input.value.trim());
      },
    },
    h("label", { for: "q" }, "Search tables and columns"),
    h("div", { class: "combo" }, input, list),
    h("button", { type: "submit" }, "Search"),
  );
  return { form, input, stop: () => clearTimeout(timer) };
}

"""The web UI in headless Chromium (Debian's, over CDP) against a real `catalog up`: sign in,
search with typos and facets, a table page and its foreign keys, registering a database and
watching its crawl, and what a bad token or a hostile table name does.

Each test saves a screenshot under .artifacts/ui/ (tests/browser.py), for a person to look at.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Dialog, Locator, Page, async_playwright, expect

from catalog.embedded import free_port
from tests.browser import keep_screenshot
from tests.engines.postgres import PostgresServer
from tests.processes import process, wait_until_ready
from tests.target_schema import SCHEMA

pytestmark = pytest.mark.asyncio(loop_scope="module")

CATALOG = str(Path(sys.executable).parent / "catalog")
HOSTILE = "<img src=x onerror=alert(1)>"
# Enough one-table batches that the crawl of the database the UI registers runs for a while.
WAREHOUSE_TABLES = 120
WAIT_MS = 30_000


@dataclass
class Catalog:
    base: str
    token: str
    reader_token: str
    database_id: str
    # The shop database's registration, and the name of a database no one registered yet.
    registration: dict[str, object]
    warehouse: str
    postgres: PostgresServer


async def _execute(postgres: PostgresServer, dbname: str, sql: str) -> None:
    conn = await asyncpg.connect(postgres.url(dbname))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _target(postgres: PostgresServer, dbname: str, schema_sql: str, user: str) -> None:
    await _execute(postgres, "postgres", f'CREATE DATABASE "{dbname}"')
    await _execute(postgres, dbname, schema_sql)
    await _execute(
        postgres,
        dbname,
        "DO $$ DECLARE s text; BEGIN"
        " FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
        " AND nspname <> 'information_schema' LOOP"
        f" EXECUTE format('GRANT USAGE ON SCHEMA %I TO {user}', s); END LOOP; END $$",
    )


async def _api(base: str, token: str, method: str, path: str, body: object = None) -> dict:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.request(method, base + path, json=body) as response,
    ):
        assert response.status < 300, await response.text()
        return await response.json()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def catalog(postgres: PostgresServer, tmp_path_factory) -> AsyncIterator[Catalog]:
    """`catalog up` on embedded defaults, with the shared target schema (and a table named like
    markup) registered and crawled; one-table batches, so that crawls take a while."""
    suffix = uuid.uuid4().hex[:8]
    user, password = f"ui_reader_{suffix}", f"pw-{uuid.uuid4().hex}"
    shop, warehouse = f"ui_shop_{suffix}", f"ui_warehouse_{suffix}"
    await _execute(postgres, "postgres", f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    hostile = HOSTILE.replace('"', '""')
    await _target(postgres, shop, SCHEMA + f'CREATE TABLE sales."{hostile}" (id int);', user)
    bins = " ".join(
        f"CREATE TABLE warehouse.bin_{n} (id integer PRIMARY KEY, shelf text);"
        for n in range(WAREHOUSE_TABLES)
    )
    await _target(postgres, warehouse, f"CREATE SCHEMA warehouse; {bins}", user)

    folder = tmp_path_factory.mktemp("catalog-up")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "CATALOG_DATA_DIR": str(folder / "data"),
        "CATALOG_PORT": str(port),
        "CATALOG_METRICS_PORT": "0",
        "CATALOG_BATCH_SIZE": "1",
        "CATALOG_DATABASE_URL": "",
        "CATALOG_NATS_URL": "",
        "CATALOG_OPENSEARCH_URL": "",
    }
    log = folder / "catalog-up.log"
    try:
        async with process(CATALOG, "up", env=env, log=log) as proc:
            await wait_until_ready(base, proc, log)
            token = (folder / "data" / "admin-token").read_text().strip()
            registration = {
                "name": "shop",
                "host": postgres.host,
                "port": postgres.port,
                "dbname": shop,
                "user": user,
                "password": password,
            }
            database = await _api(base, token, "POST", "/v1/databases", registration)
            reader = await _api(base, token, "POST", "/v1/tokens", {"name": "ui", "role": "reader"})
            found = Catalog(
                base, token, reader["token"], database["id"], registration, warehouse, postgres
            )
            await _crawled(found, database["id"])
            yield found
        assert password not in log.read_text()
    finally:
        for dbname in (shop, warehouse):
            await _execute(postgres, "postgres", f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await _execute(postgres, "postgres", f"DROP ROLE IF EXISTS {user}")


async def _crawled(catalog: Catalog, database_id: str) -> None:
    async with asyncio.timeout(90):
        while True:
            body = await _api(catalog.base, catalog.token, "GET", f"/v1/databases/{database_id}")
            if body["crawl"]["state"] in ("complete", "failed"):
                assert body["crawl"]["state"] == "complete", body
                return
            await asyncio.sleep(0.1)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        connected = await playwright.chromium.connect_over_cdp(chromium)
        yield connected
        await connected.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh tab (its own sessionStorage); a screenshot of where it ended, pass or fail."""
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    opened = await context.new_page()
    yield opened
    await keep_screenshot(opened, request.node.name)
    await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def dialogs(page: Page) -> list[str]:
    """The messages of the dialogs the page opened (each accepted)."""
    seen: list[str] = []

    async def answer(dialog: Dialog) -> None:
        seen.append(dialog.message)
        await dialog.accept()

    page.on("dialog", answer)
    return seen


def title_of(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


async def sign_in(
    page: Page, catalog: Catalog, token: str | None = None, path: str = "/ui/"
) -> None:
    await page.goto(catalog.base + path)
    await page.get_by_label("API token").fill(token or catalog.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#caller")).not_to_be_empty(timeout=WAIT_MS)


async def settled(page: Page) -> None:
    """Wait until the page has drawn what it asked the API for (main is not aria-busy)."""
    await expect(page.locator("main")).not_to_have_attribute("aria-busy", "true", timeout=WAIT_MS)


async def search(page: Page, text: str) -> None:
    box = page.get_by_role("combobox", name="Search tables and columns")
    await box.fill(text)
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(r"/ui/search\?q="), timeout=WAIT_MS)
    await settled(page)


async def test_sign_in_then_a_misspelled_table_comes_first_highlighted(page, catalog):
    await sign_in(page, catalog)
    await expect(page.locator("#caller")).to_have_text(re.compile(r"\(admin\)"))
    await search(page, "custmers")
    first = page.locator("#hits > li").first
    await expect(first.locator(".hit-title")).to_have_text("sales.customers", timeout=WAIT_MS)
    assert await first.locator(".hit-title mark").count() > 0  # the matched part, highlighted
    await expect(first.locator(".why")).to_contain_text("close spelling")  # why it matched
    # The result page is linkable: the query is in the URL, and a reload shows the same.
    assert "q=custmers" in page.url
    await page.reload()
    await expect(page.locator("#hits > li").first.locator(".hit-title")).to_have_text(
        "sales.customers", timeout=WAIT_MS
    )


async def test_suggestions_follow_the_arrow_keys_and_enter(page, catalog):
    await sign_in(page, catalog)
    box = page.get_by_role("combobox", name="Search tables and columns")
    await box.press_sequentially("order_l")
    options = page.get_by_role("option")
    # The answer to the whole text, not to a prefix typed on the way.
    await expect(options).not_to_have_count(0, timeout=WAIT_MS)
    await expect(options.filter(has_not_text=re.compile(r"^order_l"))).to_have_count(0)
    await box.press("ArrowDown")
    await expect(options.first).to_have_attribute("aria-selected", "true")
    chosen = (await options.first.text_content() or "").split(" ")[0]
    assert chosen.startswith("order_l")
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(rf"q={chosen}"), timeout=WAIT_MS)
    await expect(page.locator("#hits > li").first).to_contain_text(chosen, timeout=WAIT_MS)


async def test_a_facet_narrows_the_results(page, catalog):
    await sign_in(page, catalog)
    await search(page, "id")
    hits = page.locator("#hits > li")
    await expect(hits.first).to_be_visible(timeout=WAIT_MS)
    titles = await hits.locator(".hit-title").all_text_contents()
    assert len({title.split(".")[0] for title in titles}) > 1
    sales = page.get_by_role("group", name="Schema").get_by_label(re.compile(r"^sales "))
    await sales.check()
    await expect(page).to_have_url(re.compile(r"schema=sales"), timeout=WAIT_MS)
    await settled(page)
    await expect(sales).to_be_checked()
    titles = await page.locator("#hits > li .hit-title").all_text_contents()
    assert titles
    assert all(t.startswith("sales.") for t in titles)
    # Columns only, then one data type: the data-type facet narrows columns.
    await page.get_by_role("radio", name=re.compile(r"^Columns")).check()
    await expect(page).to_have_url(re.compile(r"kind=column"), timeout=WAIT_MS)
    await settled(page)
    await page.get_by_role("group", name="Data type").get_by_label(re.compile(r"^bigint ")).check()
    await expect(page).to_have_url(re.compile(r"data_type=bigint"), timeout=WAIT_MS)
    await settled(page)
    details = await page.locator("#hits > li .details code").all_text_contents()
    assert details
    assert set(details) == {"bigint"}


async def test_the_table_page_shows_columns_and_keys_and_follows_a_foreign_key(page, catalog):
    # Databases → shop → its tables, a page at a time → sales.orders
    await sign_in(page, catalog, path="/ui/databases")
    await page.get_by_role("link", name="shop", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text("14 tables", timeout=WAIT_MS)
    await page.get_by_role("link", name="sales.orders", exact=True).click()
    await expect(title_of(page)).to_have_text("sales.orders", timeout=WAIT_MS)
    columns = page.locator("table.columns")
    row = columns.locator("tr", has=page.get_by_role("rowheader", name=re.compile("^customer_id")))
    await expect(row).to_contain_text("bigint")
    await expect(row).to_contain_text("primary key")
    await expect(row.locator("td").nth(1)).to_have_text("no")  # not nullable
    total = columns.locator("tr", has=page.get_by_role("rowheader", name="total"))
    await expect(total.locator("td").nth(2)).to_contain_text("0")  # its default
    await expect(page.get_by_text("Rows (estimate)")).to_be_visible()
    # Referenced by order_lines; points at customers.
    await expect(page.get_by_role("link", name="sales.order_lines")).to_be_visible()
    await page.get_by_role("link", name="sales.customers").click()
    await expect(title_of(page)).to_have_text("sales.customers", timeout=WAIT_MS)
    await expect(page.get_by_text("People who buy")).to_be_visible()
    await expect(page.get_by_role("link", name="sales.orders")).to_be_visible()  # referenced by
    await expect(page.locator("table.columns")).to_contain_text("Login e-mail")  # a comment
    await expect(page.get_by_role("rowheader", name="customers_lower_email_name")).to_be_visible()
    assert "/ui/tables/" in page.url
    await page.go_back()
    await expect(title_of(page)).to_have_text("sales.orders", timeout=WAIT_MS)


async def test_register_a_database_watch_its_crawl_complete_and_find_its_tables(page, catalog):
    await sign_in(page, catalog, path="/ui/databases")
    await expect(page.get_by_role("heading", name="Databases")).to_be_visible(timeout=WAIT_MS)
    form = page.locator("form.register")
    await form.get_by_label("Name").fill("warehouse")
    shop = catalog.registration
    await form.get_by_label("Host").fill(str(shop["host"]))
    await form.get_by_label("Port").fill(str(shop["port"]))
    await form.get_by_label("Database").fill(catalog.warehouse)
    await form.get_by_label("User").fill(str(shop["user"]))
    await form.get_by_label("Password").fill(str(shop["password"]))
    await form.get_by_role("button", name="Test connection").click()
    await expect(form.locator("#register-status")).to_contain_text("connected", timeout=WAIT_MS)
    row = page.locator("tr", has=page.get_by_role("rowheader", name="warehouse"))
    bar = row.get_by_role("progressbar", name="Crawl of warehouse")
    # One table locked: its batch waits (reading its size needs a lock), so the crawl is seen
    # running, whatever the machine's speed, until the lock goes.
    held = await asyncpg.connect(catalog.postgres.url(catalog.warehouse))
    try:
        locking = held.transaction()
        await locking.start()
        await held.execute("LOCK TABLE warehouse.bin_60 IN ACCESS EXCLUSIVE MODE")
        await form.get_by_role("button", name="Register").click()
        status = form.locator("#register-status")
        await expect(status).to_contain_text("is registered", timeout=WAIT_MS)
        assert await form.get_by_label("Password").input_value() == ""  # not left in the form
        await expect(bar).to_be_visible(timeout=WAIT_MS)
        batches = re.compile(rf"running.*\d+ of {WAREHOUSE_TABLES} batches")
        await expect(row).to_contain_text(batches, timeout=WAIT_MS)
        await keep_screenshot(page, "crawl_in_progress")
        await locking.rollback()
    finally:
        await held.close()
    await expect(row).to_contain_text("complete", timeout=90_000)
    await expect(row).to_contain_text(f"{WAREHOUSE_TABLES} tables")
    await expect(bar).to_have_count(0)
    await page.get_by_role("link", name="Search", exact=True).click()
    await search(page, "bin_42")
    await expect(page.locator("#hits > li").first.locator(".hit-title")).to_have_text(
        "warehouse.bin_42", timeout=WAIT_MS
    )


async def test_an_editor_recrawls_and_deletes_a_database(page, dialogs, catalog):
    scratch = catalog.registration | {"name": "scratch"}
    created = await _api(catalog.base, catalog.token, "POST", "/v1/databases", scratch)
    await _crawled(catalog, created["id"])
    await sign_in(page, catalog, path="/ui/databases")
    row = page.locator("tr", has=page.get_by_role("rowheader", name="scratch"))
    await expect(row).to_contain_text("complete", timeout=WAIT_MS)
    # A first crawl computes no fingerprints to compare with: a second one does.
    await _api(catalog.base, catalog.token, "POST", f"/v1/databases/{created['id']}/crawls")
    await _crawled(catalog, created["id"])
    # A change in the target, which the re-crawl finds and the table page then shows.
    await _execute(
        catalog.postgres, str(scratch["dbname"]), "ALTER TABLE sales.orders ADD note text"
    )
    await row.get_by_role("button", name="Re-crawl scratch").click()
    await expect(page.locator("#databases-status")).to_contain_text(
        "A crawl of scratch is queued", timeout=WAIT_MS
    )
    await _crawled(catalog, created["id"])
    status = await _api(catalog.base, catalog.token, "GET", f"/v1/databases/{created['id']}")
    assert status["crawl"]["generation"] == 3
    await page.goto(f"{catalog.base}/ui/tables/{created['id']}/sales/orders")
    await expect(page.locator("ol.history")).to_contain_text(
        "altered: columns added: note", timeout=WAIT_MS
    )
    await page.get_by_role("link", name="Databases", exact=True).first.click()
    await row.get_by_role("button", name="Delete scratch").click()
    await expect(page.locator("#databases-status")).to_contain_text(
        "scratch is deleted", timeout=WAIT_MS
    )
    assert dialogs == ["Delete scratch, its crawls and its documents?"]
    await expect(page.get_by_role("rowheader", name="scratch")).to_have_count(0)
    await expect(page.get_by_role("rowheader", name="shop")).to_be_visible()


async def test_a_bad_token_gets_a_clear_message(page, catalog):
    await page.goto(catalog.base + "/ui/search?q=orders")
    await page.get_by_label("API token").fill("cat_not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("The catalog did not accept that token", timeout=WAIT_MS)
    await expect(page.get_by_label("API token")).to_be_visible()


async def test_a_table_named_like_markup_renders_as_text(page, dialogs, catalog):
    await sign_in(page, catalog)
    await search(page, "img src")
    # Only the shop database: others (a test's scratch copy) may hold the same table.
    await page.get_by_role("group", name="Database").get_by_label(re.compile(r"^shop ")).check()
    await settled(page)
    title = page.locator("#hits > li .hit-title", has_text=HOSTILE)
    await expect(title).to_have_count(1, timeout=WAIT_MS)
    assert await page.locator("#hits img").count() == 0
    await title.click()
    await expect(title_of(page)).to_have_text(f"sales.{HOSTILE}", timeout=WAIT_MS)
    assert await page.locator("main img").count() == 0
    assert dialogs == []


async def test_a_reader_sees_no_editing_controls(page, catalog):
    await sign_in(page, catalog, token=catalog.reader_token, path="/ui/databases")
    await expect(page.locator("#caller")).to_contain_text("(reader)")
    await expect(page.get_by_role("rowheader", name="shop")).to_be_visible(timeout=WAIT_MS)
    assert await page.locator("form.register").count() == 0
    assert await page.get_by_role("button", name=re.compile("^(Re-crawl|Delete|Test)")).count() == 0


async def test_every_control_is_labelled_focus_shows_and_360_px_fits(page, catalog):
    await page.set_viewport_size({"width": 360, "height": 740})
    await sign_in(page, catalog, path="/ui/databases")
    for path in ("/ui/databases", "/ui/search?q=customer", "/ui/search?q=orders&kind=table"):
        await page.goto(catalog.base + path)
        await expect(page.locator("main h1, main h2").first).to_be_visible(timeout=WAIT_MS)
        await settled(page)
        unlabelled = await page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                             && !(c.tagName === 'BUTTON' && c.textContent.trim()))
                .map(c => c.outerHTML)"""
        )
        assert unlabelled == [], path
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 360, (path, width)
    await page.goto(f"{catalog.base}/ui/tables/{catalog.database_id}/sales/customers")
    await expect(title_of(page)).to_have_text("sales.customers", timeout=WAIT_MS)
    assert await page.evaluate("document.scrollingElement.scrollWidth") <= 360
    await page.keyboard.press("Tab")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    # On a page that puts the focus nowhere, the first Tab reaches the skip link, which moves
    # the focus to the page's content.
    await page.goto(f"{catalog.base}/ui/databases")
    await settled(page)
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()

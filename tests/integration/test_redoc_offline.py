"""/redoc renders the API reference with nothing but the gateway: no CDN, no internet."""

from __future__ import annotations

from playwright.async_api import Route, async_playwright

from gateway.app import create_app
from tests.browser import keep_screenshot
from tests.fakes import InMemorySearchIndex, InMemoryStore
from tests.unit.test_gateway import services_over


async def test_redoc_renders_the_reference_from_the_gateway_alone(chromium: str, aiohttp_server):
    server = await aiohttp_server(create_app(services_over(InMemoryStore(), InMemorySearchIndex())))
    origin = str(server.make_url("/")).rstrip("/")
    elsewhere: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith(origin):
            await route.continue_()
        else:  # as on a machine without internet
            elsewhere.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium)
        try:
            page = await browser.new_page()
            await page.route("**/*", only_the_gateway)
            await page.goto(f"{origin}/redoc")
            title = page.locator("h1", has_text="Data catalog indexer")
            await title.wait_for(timeout=30_000)  # ReDoc rendered the spec it fetched
            # Operations are listed by their summaries, the newest route's among them.
            assert await page.get_by_text("The change history", exact=False).count() > 0
            await keep_screenshot(page, "redoc_offline")
        finally:
            await browser.close()
    assert elsewhere == []

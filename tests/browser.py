"""What the browser tests share: where their screenshots go, for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Page

ARTIFACTS = Path(
    os.environ.get("CATALOG_TEST_ARTIFACTS") or Path(__file__).parents[1] / ".artifacts"
)


async def keep_screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot as .artifacts/ui/<name>.png (or under $CATALOG_TEST_ARTIFACTS)."""
    folder = ARTIFACTS / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path

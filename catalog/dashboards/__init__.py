"""OpenSearch Dashboards for the catalog: the saved objects that ship in saved_objects.ndjson
(an index pattern on the catalog's documents and one on its crawl records, five visualizations
and the dashboard holding them), and their import through the saved-objects API.

Importing overwrites objects of the same ids, so `catalog dashboards install` can run again
safely (after an upgrade, or in compose's one-shot service each time the stack starts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import aiohttp

from catalog.errors import PermanentError

SAVED_OBJECTS = files(__package__) / "saved_objects.ndjson"
# Where the OpenSearch adapter keeps a record of each ended crawl: the catalog's index name and
# this (catalog.adapters.opensearch_index.record_crawl).
CRAWLS_SUFFIX = "-crawls"
# The index names the shipped objects are written for; install puts the deployment's own.
SHIPPED_INDEX = "catalog"
_TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass(frozen=True)
class Imported:
    count: int
    dashboard: str


def saved_objects(index: str) -> list[dict[str, Any]]:
    """The shipped objects, their index patterns pointed at `index` and its crawl records."""
    titles = {SHIPPED_INDEX: index, SHIPPED_INDEX + CRAWLS_SUFFIX: index + CRAWLS_SUFFIX}
    objects = [json.loads(line) for line in SAVED_OBJECTS.read_text().splitlines() if line]
    for saved in objects:
        if saved["type"] == "index-pattern":
            saved["attributes"]["title"] = titles[saved["attributes"]["title"]]
    return objects


async def install(url: str, index: str) -> Imported:
    """Import the objects into the Dashboards at `url`, overwriting earlier copies."""
    objects = saved_objects(index)
    body = "".join(json.dumps(saved) + "\n" for saved in objects).encode()
    form = aiohttp.FormData()
    form.add_field("file", body, filename="catalog.ndjson", content_type="application/ndjson")
    endpoint = url.rstrip("/") + "/api/saved_objects/_import?overwrite=true"
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as http,
            http.post(endpoint, data=form, headers={"osd-xsrf": "true"}) as response,
        ):
            answer = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise PermanentError(f"cannot import into OpenSearch Dashboards at {url}: {exc}") from None
    if status != 200 or not isinstance(answer, dict) or not answer.get("success"):
        why = answer.get("errors") or answer.get("message") if isinstance(answer, dict) else answer
        raise PermanentError(f"OpenSearch Dashboards refused the import ({status}): {why}")
    dashboard = next(o["attributes"]["title"] for o in objects if o["type"] == "dashboard")
    return Imported(int(answer.get("successCount", len(objects))), dashboard)

"""The shipped OpenSearch Dashboards objects follow the saved-object shapes, and install imports
them as the saved-objects API asks. (Dashboards cannot run here: its import endpoint is stood in
for by a small server that checks what the real one requires. The fields the objects name are
checked against the real OpenSearch node in tests/integration/test_dashboards.py.)"""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from catalog.dashboards import install, saved_objects
from catalog.errors import PermanentError

OBJECTS = saved_objects("catalog")
BY_ID = {saved["id"]: saved for saved in OBJECTS}


def of_type(kind: str) -> list[dict]:
    return [saved for saved in OBJECTS if saved["type"] == kind]


def test_ids_are_unique_and_every_object_has_the_saved_object_keys():
    assert len(BY_ID) == len(OBJECTS) == 8
    for saved in OBJECTS:
        assert set(saved) == {"id", "type", "attributes", "references"}
        assert saved["type"] in ("index-pattern", "visualization", "dashboard")


def test_index_patterns_name_the_catalog_index_and_its_crawl_records():
    patterns = {p["attributes"]["title"]: p["attributes"] for p in of_type("index-pattern")}
    assert set(patterns) == {"catalog", "catalog-crawls"}
    assert patterns["catalog-crawls"]["timeFieldName"] == "finished_at"
    assert all(json.loads(p["fields"]) == [] for p in patterns.values())  # Dashboards reads them


def test_install_points_the_index_patterns_at_the_deployments_index():
    patterns = [p for p in saved_objects("prod") if p["type"] == "index-pattern"]
    assert {p["attributes"]["title"] for p in patterns} == {"prod", "prod-crawls"}


def test_visualizations_hold_json_states_and_reference_an_index_pattern():
    visualizations = of_type("visualization")
    assert {v["attributes"]["title"] for v in visualizations} == {
        "Tables per database",
        "Columns by data type",
        "Largest tables by size",
        "Crawl durations over time",
        "Failed crawls by error class",
    }
    for saved in visualizations:
        attributes = saved["attributes"]
        state = json.loads(attributes["visState"])
        assert state["title"] == attributes["title"]
        assert state["aggs"]
        assert state["aggs"][0]["schema"] == "metric"
        assert json.loads(attributes["uiStateJSON"]) == {}
        source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        (reference,) = saved["references"]
        assert reference["name"] == source["indexRefName"]
        assert BY_ID[reference["id"]]["type"] == "index-pattern"


def test_the_dashboard_holds_every_visualization_by_reference():
    (dashboard,) = of_type("dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    references = {r["name"]: r for r in dashboard["references"]}
    assert sorted(references[p["panelRefName"]]["id"] for p in panels) == sorted(
        v["id"] for v in of_type("visualization")
    )
    assert all(r["type"] == "visualization" for r in references.values())
    assert len({p["panelIndex"] for p in panels}) == len(panels)
    json.loads(dashboard["attributes"]["optionsJSON"])


@pytest.fixture
async def dashboards(aiohttp_server):
    """Stands in for Dashboards' import endpoint, refusing what the real one refuses."""
    received: list[dict] = []

    async def import_objects(request: web.Request) -> web.Response:
        if request.headers.get("osd-xsrf") != "true":
            return web.json_response({"message": "Request must contain a osd-xsrf header."}, 400)
        if request.query.get("overwrite") != "true":
            return web.json_response({"success": False, "errors": ["conflict"]})
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        assert upload.filename.endswith(".ndjson")
        received.extend(json.loads(line) for line in upload.file.read().splitlines())
        return web.json_response({"success": True, "successCount": len(received)})

    app = web.Application()
    app.router.add_post("/api/saved_objects/_import", import_objects)
    server = await aiohttp_server(app)
    return str(server.make_url("")), received


async def test_install_imports_every_object_and_can_run_again(dashboards):
    url, received = dashboards
    first = await install(url, "catalog")
    assert (first.count, first.dashboard) == (8, "Data catalog")
    assert [saved["id"] for saved in received] == [saved["id"] for saved in OBJECTS]
    received.clear()
    assert (await install(url, "catalog")).count == 8  # overwrite: the same objects again


async def test_a_refused_or_unreachable_import_is_one_clear_error(aiohttp_server):
    with pytest.raises(PermanentError, match="cannot import into OpenSearch Dashboards"):
        await install("http://127.0.0.1:9", "catalog")

    async def refuse(_: web.Request) -> web.Response:
        return web.json_response({"success": False, "errors": [{"id": "x", "type": "conflict"}]})

    refusing = web.Application()
    refusing.router.add_post("/api/saved_objects/_import", refuse)
    server = await aiohttp_server(refusing)
    with pytest.raises(PermanentError, match="refused the import"):
        await install(str(server.make_url("")), "catalog")

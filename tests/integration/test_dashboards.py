"""The Dashboards objects against the real OpenSearch node: every field a visualization or an
index pattern names exists in the mappings the adapter puts, aggregatable and of the type its
aggregation needs; and the crawl records they read are written."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import AsyncOpenSearch

from catalog.adapters.opensearch_index import OpenSearchIndex
from catalog.dashboards import CRAWLS_SUFFIX, saved_objects
from catalog.documents import documents_for_table
from catalog.models import Crawl, CrawlState
from tests.factories import table

# What each aggregation needs of its field.
NEEDS = {
    "terms": {"keyword"},
    "max": {"long", "double"},
    "avg": {"long", "double"},
    "date_histogram": {"date"},
}
QUERY_FIELD = re.compile(r"^(\w+):\w+$")  # the visualizations' KQL: one field, one value


def ended_crawl(database_id: str, state: CrawlState, error_class: str | None = None) -> Crawl:
    started = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    return Crawl(
        id=f"crawl_{uuid.uuid4().hex}",
        database_id=database_id,
        generation=2,
        state=state,
        requested_at=started - timedelta(seconds=1),
        started_at=started,
        finished_at=started + timedelta(seconds=42.5),
        batches_total=3,
        batches_done=3,
        tables=5,
        columns=10,
        error_class=error_class,
        base_generation=1,
        planned_on=1,
    )


@pytest.fixture
async def catalog_index(opensearch_url):
    name = f"catalog-test-{uuid.uuid4().hex}"
    index = OpenSearchIndex(opensearch_url, name)
    await index.open()
    client = AsyncOpenSearch(hosts=[opensearch_url])
    yield index, name, client
    await client.close()
    await index.close()


async def test_every_field_the_dashboards_name_is_mapped_aggregatable_and_typed(catalog_index):
    index, name, client = catalog_index
    # The crawl records' index is made by the first record, from the template open() put.
    await index.record_crawl(ended_crawl("db_a", CrawlState.COMPLETE), "default", 0)
    capabilities = {}
    for pattern in (name, name + CRAWLS_SUFFIX):
        answer = await client.field_caps(index=pattern, fields="*")
        capabilities[pattern] = answer["fields"]

    objects = saved_objects(name)
    titles = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    checked = 0
    for saved in (o for o in objects if o["type"] == "visualization"):
        fields = capabilities[titles[saved["references"][0]["id"]]]
        state = json.loads(saved["attributes"]["visState"])
        for aggregation in state["aggs"]:
            field = aggregation["params"].get("field")
            if field is None:
                continue  # count
            ((kind, caps),) = fields[field].items()
            assert kind in NEEDS[aggregation["type"]], (saved["id"], field, kind)
            assert caps["aggregatable"], (saved["id"], field)
            checked += 1
        source = json.loads(saved["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        query_field = QUERY_FIELD.match(source["query"]["query"]).group(1)
        assert "keyword" in fields[query_field], (saved["id"], query_field)
    assert checked == 7  # every aggregation on a field, in the five visualizations
    crawls = capabilities[name + CRAWLS_SUFFIX]
    time_field = next(o for o in objects if o["attributes"].get("timeFieldName"))
    assert "date" in crawls[time_field["attributes"]["timeFieldName"]]


async def test_each_ended_crawl_is_recorded_once_and_table_sizes_are_aggregatable(catalog_index):
    index, name, client = catalog_index
    complete = ended_crawl("db_a", CrawlState.COMPLETE)
    failed = ended_crawl("db_b", CrawlState.FAILED, error_class="unreachable")
    await index.record_crawl(complete, "tenant_a", 3)
    await index.record_crawl(complete, "tenant_a", 3)  # told twice: still one record
    await index.record_crawl(failed, "tenant_b", 0)
    orders = table("sales", "orders", "id", "total")
    sized = dataclasses.replace(orders, size_bytes=8192, row_estimate=40)
    await index.upsert(documents_for_table("db_a", 1, 0, sized, tenant_id="tenant_a"))
    await client.indices.refresh(index=f"{name},{name}{CRAWLS_SUFFIX}")

    record = (await client.get(index=name + CRAWLS_SUFFIX, id=complete.id))["_source"]
    assert record == {
        "crawl_id": complete.id,
        "database_id": "db_a",
        "tenant_id": "tenant_a",
        "state": "complete",
        "mode": "incremental",
        "error_class": None,
        "generation": 2,
        "requested_at": complete.requested_at.isoformat(),
        "started_at": complete.started_at.isoformat(),
        "finished_at": complete.finished_at.isoformat(),
        "duration_seconds": 42.5,
        "tables": 5,
        "columns": 10,
        "changes": 3,
    }
    failures = await client.search(
        index=name + CRAWLS_SUFFIX,
        body={
            "size": 0,
            "query": {"term": {"state": "failed"}},
            "aggs": {"by": {"terms": {"field": "error_class"}}},
        },
    )
    assert failures["hits"]["total"]["value"] == 1
    assert [b["key"] for b in failures["aggregations"]["by"]["buckets"]] == ["unreachable"]
    largest = await client.search(
        index=name,
        body={"size": 0, "aggs": {"size": {"max": {"field": "size_bytes"}}}},
    )
    assert largest["aggregations"]["size"]["value"] == 8192

    await index.delete_database("db_a")  # its crawls go from the store: their records go too
    await client.indices.refresh(index=name + CRAWLS_SUFFIX)
    left = await client.search(index=name + CRAWLS_SUFFIX, body={"query": {"match_all": {}}})
    assert [hit["_id"] for hit in left["hits"]["hits"]] == [failed.id]

"""The change history and the change event, end to end: real processes, engines and NATS."""

from __future__ import annotations

import asyncio
import json

import nats

from tests.faults.harness import Cluster, TargetDatabase

STREAM = "CATALOG_SCHEMA_CHANGES"  # the default deployment's (CATALOG_NATS_PREFIX=catalog)


async def test_a_recrawl_lists_what_changed_and_announces_it_once_on_nats(
    faults: Cluster, make_target
):
    target: TargetDatabase = await make_target(300, 2)
    await faults.start_gateway()
    await faults.start_indexer("a")
    database_id, _ = await faults.register(target)
    await faults.wait_for(database_id, 1, ("complete",), within=60)
    path = f"/v1/databases/{database_id}/changes"
    # The first crawl is the baseline, listed without fingerprints; the second, with nothing
    # changed, finds nothing, and has them for the next.
    status, body = await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    assert status == 202, body
    await faults.wait_for(database_id, 2, ("complete",), within=60)
    assert (await faults.request("GET", path))[1]["items"] == []

    await target.drop([("sales", "table_00000")])
    await target.execute(
        "ALTER TABLE ops.table_00001 ADD COLUMN extra integer;"
        " ALTER TABLE hr.table_00003 RENAME TO renamed_one;"
        " CREATE TABLE finance.brand_new (id integer)"
    )
    status, body = await faults.request("POST", f"/v1/databases/{database_id}/crawls")
    assert status == 202, body
    await faults.wait_for(database_id, 3, ("complete",), within=60)

    # `complete` comes first; the finishing step then compares the two versions of what changed.
    async with asyncio.timeout(10):
        while True:
            status, changes = await faults.request("GET", path)
            assert status == 200, changes
            altered = [c for c in changes["items"] if c["kind"] == "altered"]
            if altered and altered[0]["detail"] is not None:
                break
            await asyncio.sleep(0.05)
    assert {
        (c["kind"], c["schema"], c["name"], c["old_name"]) for c in changes["items"]
    } == {
        ("dropped", "sales", "table_00000", None),
        ("altered", "ops", "table_00001", None),
        ("renamed", "hr", "renamed_one", "table_00003"),
        ("added", "finance", "brand_new", None),
    }  # fmt: skip
    details = {c["name"]: c["detail"] for c in changes["items"]}
    assert details["table_00001"] == {"columns": {"added": ["extra"]}}
    assert details["renamed_one"] == {}  # renamed, and nothing else differs
    assert details["brand_new"] is None

    nc = await nats.connect(faults.nats.url)
    try:
        js = nc.jetstream()
        subject = f"catalog.schema.changed.{database_id}"
        async with asyncio.timeout(10):  # the outbox relay sends it just after the commit
            while not (await js.stream_info(STREAM, subjects_filter=subject)).state.messages:
                await asyncio.sleep(0.05)
        info = await js.stream_info(STREAM, subjects_filter=subject)
        assert info.state.subjects == {subject: 1}  # one event for the crawl, once
        message = await js.get_last_msg(STREAM, subject)
    finally:
        await nc.close()
    event = json.loads(message.data)
    assert (event["database_id"], event["generation"]) == (database_id, 3)
    assert event["counts"] == {"dropped": 1, "altered": 1, "renamed": 1, "added": 1}
    assert len(event["changes"]) == 4
    assert target.registration()["password"] not in message.data.decode()

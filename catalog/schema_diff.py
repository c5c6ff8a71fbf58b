"""What changed in one relation between two crawls, column by column: the change history's detail.

Both sides are table payloads as documents keep them (catalog.documents.table_payload), so the
detail says what a reader of the catalog would see differ.
"""

from __future__ import annotations

from typing import Any

Payload = dict[str, Any]

# Column attributes whose change is reported, by payload key.
COLUMN_ATTRIBUTES = (
    "data_type",
    "nullable",
    "default",
    "generated",
    "collation",
    "comment",
    "auto_increment",
)
# Table attributes whose change is reported as it was and as it is.
TABLE_ATTRIBUTES = ("type", "comment", "definition", "partition_of")


def _by_name(items: list[Payload]) -> dict[str, Payload]:
    return {item["name"]: item for item in items}


def _named_changes(old: list[Payload], new: list[Payload]) -> dict[str, list[str]]:
    """Keys or indexes (by name) added, dropped, and changed."""
    before, after = _by_name(old), _by_name(new)
    found = {
        "added": sorted(after.keys() - before.keys()),
        "dropped": sorted(before.keys() - after.keys()),
        "changed": sorted(n for n in before.keys() & after.keys() if before[n] != after[n]),
    }
    return {kind: names for kind, names in found.items() if names}


def describe(old: Payload, new: Payload) -> Payload:
    """The differences between two payloads of one relation; empty if none shows."""
    detail: Payload = {}
    before, after = _by_name(old.get("columns", [])), _by_name(new.get("columns", []))
    columns: Payload = {}
    if added := [n for n in after if n not in before]:
        columns["added"] = added
    if dropped := [n for n in before if n not in after]:
        columns["dropped"] = dropped
    changed = []
    for name in (n for n in after if n in before):
        differences = {
            attribute: [before[name].get(attribute), after[name].get(attribute)]
            for attribute in COLUMN_ATTRIBUTES
            if before[name].get(attribute) != after[name].get(attribute)
        }
        if differences:
            changed.append({"name": name, **differences})
    if changed:
        columns["changed"] = changed
    if columns:
        detail["columns"] = columns
    keys = [list(old.get("primary_key", [])), list(new.get("primary_key", []))]
    if keys[0] != keys[1]:
        detail["primary_key"] = keys
    for part in ("foreign_keys", "indexes"):
        if found := _named_changes(old.get(part, []), new.get(part, [])):
            detail[part] = found
    for attribute in TABLE_ATTRIBUTES:
        if old.get(attribute) != new.get(attribute):
            detail[attribute] = [old.get(attribute), new.get(attribute)]
    return detail

"""The events the catalog publishes, as an AsyncAPI 3 document (served at /asyncapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from catalog.messages import SCHEMA_CHANGED, SchemaChanged
from gateway.openapi import API_VERSION


def asyncapi_document(prefix: str) -> dict[str, Any]:
    """`prefix` is the deployment's subject prefix (CATALOG_NATS_PREFIX)."""
    address = prefix + SCHEMA_CHANGED.removeprefix("catalog") + ".{database_id}"
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Data catalog events",
            "version": API_VERSION,
            "description": "Published on NATS JetStream through the outbox: once per crawl, with"
            " a Nats-Msg-Id header for deduplication. Names and kinds only, never a secret.",
        },
        "channels": {
            "schemaChanged": {
                "address": address,
                "description": "A completed crawl found relations added, dropped, renamed or"
                " altered since the crawl before it (GET /v1/databases/{id}/changes has them"
                " all). Kept 30 days in the stream <PREFIX>_SCHEMA_CHANGES.",
                "parameters": {"database_id": {"description": "The database's id"}},
                "messages": {"schemaChanged": {"$ref": "#/components/messages/SchemaChanged"}},
            }
        },
        "operations": {
            "receiveSchemaChanged": {
                "action": "receive",
                "channel": {"$ref": "#/channels/schemaChanged"},
            }
        },
        "components": {
            "messages": {
                "SchemaChanged": {
                    "contentType": "application/json",
                    "headers": {
                        "type": "object",
                        "properties": {"Nats-Msg-Id": {"type": "string"}},
                    },
                    "payload": TypeAdapter(SchemaChanged).json_schema(),
                }
            }
        },
    }

"""The change history: what each completed crawl found changed since the one before it."""

from __future__ import annotations

from aiohttp import web

from catalog.errors import InvalidInputError
from catalog.principal import Role
from gateway.access import tenant_database
from gateway.auth import require
from gateway.cursors import after_cursor, page_after
from gateway.keys import STORE
from gateway.params import datetime_param, identifier_param, int_param
from gateway.schemas import SchemaChangeList, SchemaChangeOut

routes = web.RouteTableDef()


@routes.get("/v1/databases/{database_id}/changes")
async def list_changes(request: web.Request) -> web.Response:
    require(request, Role.READER)
    limit = int_param(request, "limit", 100, 1, 500)
    after = after_cursor(request.query.get("cursor"), int)
    since = datetime_param(request, "since")
    schema, table = request.query.get("schema"), request.query.get("table")
    if (schema is None) != (table is None):
        raise InvalidInputError("'schema' and 'table' name one relation: give both or neither")
    relation = None
    if schema is not None and table is not None:
        relation = (identifier_param(schema, "schema"), identifier_param(table, "table"))
    database = await tenant_database(request, request.match_info["database_id"])
    changes = await request.app[STORE].list_changes(
        database.id, since, after, limit + 1, relation=relation
    )
    page, next_cursor = page_after(changes, limit)
    out = SchemaChangeList(
        items=[SchemaChangeOut.model_validate(change, from_attributes=True) for change in page],
        next_cursor=next_cursor,
    )
    return web.json_response(out.model_dump(mode="json", by_alias=True))

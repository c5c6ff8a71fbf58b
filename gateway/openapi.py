"""The OpenAPI 3.1 document, built from the same pydantic models the routes use."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from catalog.search import MAX_SEARCH_DEPTH
from gateway import schemas
from gateway.auth import REDOC_BUNDLE_PATH
from gateway.routes.search import TABLE_TYPES

# The version of the API and of the events it documents (/openapi.json, /asyncapi.json).
API_VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"
_PROBLEM = {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel] | dict[str, Any], description: str) -> dict[str, Any]:
    schema = model if isinstance(model, dict) else _ref(model)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad input",
        401: "Missing or invalid bearer token",
        403: "The caller's role does not allow this",
        404: "Not found (another tenant's resources are not found either)",
        409: "Conflict",
        422: "Body does not match the schema, the target host is not permitted, or a change of "
        "where the password is sent came without the password",
        429: "Too many requests or crawls; retry after the Retry-After delay",
        503: "A backing service is unavailable; retry after the Retry-After delay",
    }
    return {str(s): {"description": text[s], "content": _PROBLEM} for s in statuses}


def _param(
    name: str,
    where: str,
    schema: dict[str, Any],
    description: str,
    required: bool = False,
    allow_empty: bool = False,
) -> dict[str, Any]:
    param = {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }
    if allow_empty:
        # The route reads `?name=` (an empty value) as if the parameter were absent.
        param["allowEmptyValue"] = True
    return param


_DATABASE_ID = _param("database_id", "path", {"type": "string"}, "The database's id")
_LIMIT = _param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 500},
    "Page size",
    allow_empty=True,
)
_CURSOR = _param(
    "cursor", "query", {"type": "string"}, "next_cursor of the previous page", allow_empty=True
)
_QUERY = _param(
    "q",
    "query",
    {"type": "string", "minLength": 1, "maxLength": 200},
    "What to look for: a name or parts of one, in any case; typos, prefixes and substrings match",
    required=True,
)
_SEARCH_DATABASE_ID = _param(
    "database_id",
    "query",
    {"type": "string"},
    "Only this database (repeatable); without it, every database",
)
_TABLE_PAGE = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": _ref(schemas.TableOut)},
        "next_cursor": {"type": ["string", "null"]},
    },
}


def _seed_not_found() -> dict[str, Any]:
    """No table matches (the sketch's body), or no such database (a problem)."""
    problem = _problems(404)["404"]
    return {
        "description": "No table matches, or no such database",
        "content": {
            **_json(schemas.SeedNotFound, "")["content"],
            **problem["content"],
        },
    }


def _operation(
    summary: str,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] = (),
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    public: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if public:
        op["security"] = []
    else:
        # Every authenticated call may be refused for its token, its role or its rate.
        op["responses"] = {**responses, **_problems(401, 403, 429)}
    return op


@cache
def openapi_document() -> dict[str, Any]:
    models = [
        schemas.CredentialsIn,
        schemas.DatabaseIn,
        schemas.CredentialsOut,
        schemas.DatabaseOut,
        schemas.DatabaseList,
        schemas.DeadLetterList,
        schemas.SchemaChangeList,
        schemas.CrawlRequestIn,
        schemas.DatabasePatch,
        schemas.ConnectionTest,
        schemas.TenantIn,
        schemas.TenantOut,
        schemas.TenantList,
        schemas.TokenIn,
        schemas.TokenOut,
        schemas.TokenList,
        schemas.AuditList,
        schemas.CallerOut,
        schemas.TableOut,
        schemas.TableDetailOut,
        schemas.SearchResults,
        schemas.Suggestions,
        schemas.SeedSchema,
        schemas.SeedNotFound,
        schemas.Problem,
        schemas.Health,
    ]
    _, definitions = models_json_schema(
        [(m, "validation" if m.__name__.endswith("In") else "serialization") for m in models],
        ref_template=_REF,
    )
    paths = {
        "/healthz": {
            "get": _operation("Liveness", {"200": _json(schemas.Health, "Alive")}, public=True)
        },
        "/readyz": {
            "get": _operation(
                "Readiness of the store and the index",
                {"200": _json(schemas.Health, "Ready"), "503": _json(schemas.Health, "Not ready")},
                public=True,
            )
        },
        "/credentials": {
            "post": _operation(
                "Register a PostgreSQL database (the seed's route)",
                {
                    "200": _json(schemas.CredentialsOut, "Registered; the first crawl is queued"),
                    **_problems(400, 422, 503),
                },
                body=schemas.CredentialsIn,
            )
        },
        "/v1/databases": {
            "post": _operation(
                "Register a database and queue its first crawl",
                {"201": _json(schemas.DatabaseOut, "Registered"), **_problems(400, 422, 503)},
                body=schemas.DatabaseIn,
            ),
            "get": _operation(
                "List registered databases",
                {"200": _json(schemas.DatabaseList, "A page of databases"), **_problems(400, 503)},
                params=[_LIMIT, _CURSOR],
            ),
        },
        "/v1/databases/{database_id}": {
            "get": _operation(
                "A database (never its password) and its latest crawl",
                {"200": _json(schemas.DatabaseOut, "The database"), **_problems(404, 503)},
                params=[_DATABASE_ID],
            ),
            "patch": _operation(
                "Change a database's name, connection, TLS or password (editor)",
                {
                    "200": _json(schemas.DatabaseOut, "The changed database"),
                    **_problems(400, 404, 422, 503),
                },
                params=[_DATABASE_ID],
                body=schemas.DatabasePatch,
            ),
            "delete": _operation(
                "Delete a database, its credentials, crawls and documents (editor)",
                {"204": {"description": "Deleted"}, **_problems(404, 503)},
                params=[_DATABASE_ID],
            ),
        },
        "/v1/databases/{database_id}/test": {
            "post": _operation(
                "Connect with the stored credentials and report what the crawler can do (editor)",
                {"200": _json(schemas.ConnectionTest, "The report"), **_problems(404, 503)},
                params=[_DATABASE_ID],
            )
        },
        "/v1/connection-tests": {
            "post": _operation(
                "Try a database's credentials before registering them, with the checks of"
                " /v1/databases/{database_id}/test; nothing is stored (editor)",
                {"200": _json(schemas.ConnectionTest, "The report"), **_problems(400, 422, 503)},
                body=schemas.DatabaseIn,
            )
        },
        "/v1/me": {
            "get": _operation(
                "The caller: subject, tenant and role (a client checks a token with it)",
                {"200": _json(schemas.CallerOut, "The caller"), **_problems(503)},
            )
        },
        "/v1/tenants": {
            "post": _operation(
                "Create a tenant (the operator's admins)",
                {"201": _json(schemas.TenantOut, "Created"), **_problems(400, 409, 422, 503)},
                body=schemas.TenantIn,
            ),
            "get": _operation(
                "List tenants (the operator's admins)",
                {"200": _json(schemas.TenantList, "A page of tenants"), **_problems(400, 503)},
                params=[_LIMIT, _CURSOR],
            ),
        },
        "/v1/tokens": {
            "post": _operation(
                "Create an API token (admin); it is shown once and stored as a hash",
                {"201": _json(schemas.TokenOut, "The token"), **_problems(400, 404, 422, 503)},
                body=schemas.TokenIn,
            ),
            "get": _operation(
                "List the tenant's API tokens (admin): ids, names, roles, expiry; never a token",
                {"200": _json(schemas.TokenList, "A page of tokens"), **_problems(400, 503)},
                params=[_LIMIT, _CURSOR],
            ),
        },
        "/v1/tokens/{token_id}": {
            "delete": _operation(
                "Revoke an API token (admin); it stops working within ten seconds",
                {"204": {"description": "Revoked"}, **_problems(404, 503)},
                params=[_param("token_id", "path", {"type": "string"}, "The token's id")],
            )
        },
        "/v1/audit": {
            "get": _operation(
                "Who registered, changed, tested, crawled and deleted what (admin)",
                {"200": _json(schemas.AuditList, "A page of events"), **_problems(400, 503)},
                params=[_LIMIT, _CURSOR],
            )
        },
        "/v1/databases/{database_id}/crawls": {
            "post": _operation(
                "Queue a re-crawl (coalesces with one already queued; waits for one already"
                " planned, so it sees every change made before the request). Incremental"
                ' unless the optional body says {"full": true}',
                {"202": _json(schemas.DatabaseOut, "Queued"), **_problems(400, 404, 422, 503)},
                params=[_DATABASE_ID],
                body=schemas.CrawlRequestIn,
                body_required=False,
            )
        },
        "/v1/databases/{database_id}/crawls/{crawl_id}/confirm": {
            "post": _operation(
                "Publish a crawl the fail-safe held (state held): the fall in tables is real",
                {
                    "202": _json(schemas.DatabaseOut, "Publication queued"),
                    **_problems(404, 409, 503),
                },
                params=[
                    _DATABASE_ID,
                    _param("crawl_id", "path", {"type": "string"}, "The held crawl's id"),
                ],
            )
        },
        "/v1/dead-letters": {
            "get": _operation(
                "Messages terminated instead of retried (malformed, or out of attempts)",
                {
                    "200": _json(schemas.DeadLetterList, "A page of dead letters"),
                    **_problems(400, 503),
                },
                params=[
                    _param("crawl_id", "query", {"type": "string"}, "Only this crawl's"),
                    _LIMIT,
                    _CURSOR,
                ],
            )
        },
        "/v1/databases/{database_id}/changes": {
            "get": _operation(
                "The change history: relations each completed crawl found added, dropped,"
                " renamed or altered since the crawl before it (the first crawl is the baseline)",
                {
                    "200": _json(schemas.SchemaChangeList, "A page of changes, oldest first"),
                    **_problems(400, 404, 503),
                },
                params=[
                    _DATABASE_ID,
                    _param(
                        "since",
                        "query",
                        {"type": "string", "format": "date-time"},
                        "Only changes found at or after this instant (RFC 3339, with an offset)",
                    ),
                    _param(
                        "schema",
                        "query",
                        {"type": "string"},
                        "With table: only this relation's changes, under this name or renamed"
                        " from it",
                    ),
                    _param("table", "query", {"type": "string"}, "With schema: see schema"),
                    _LIMIT,
                    _CURSOR,
                ],
            )
        },
        "/v1/databases/{database_id}/tables": {
            "get": _operation(
                "Page through the tables of the last complete crawl, with their columns",
                {"200": _json(_TABLE_PAGE, "A page of tables"), **_problems(400, 404, 409, 503)},
                params=[_DATABASE_ID, _LIMIT, _CURSOR],
            )
        },
        "/v1/databases/{database_id}/tables/{schema}/{table}": {
            "get": _operation(
                "One table of the last complete crawl, with its columns, keys and indexes, and"
                " the foreign keys of other tables (and its own) that point at it",
                {
                    "200": _json(schemas.TableDetailOut, "The table"),
                    **_problems(404, 409, 503),
                },
                params=[
                    _DATABASE_ID,
                    _param(
                        "schema",
                        "path",
                        {"type": "string", "minLength": 1},
                        "The table's schema as the database names it (case matters),"
                        " percent-encoded: a / in it is %2F",
                    ),
                    _param(
                        "table",
                        "path",
                        {"type": "string", "minLength": 1},
                        "The table's name, likewise",
                    ),
                ],
            )
        },
        "/v1/search": {
            "get": _operation(
                "Ranked, typo-tolerant search over tables and columns, with facets on request",
                {
                    "200": _json(
                        schemas.SearchResults, "Hits, best first, and facet counts if asked"
                    ),
                    **_problems(400, 404, 409, 503),
                },
                params=[
                    _QUERY,
                    _param(
                        "kind",
                        "query",
                        {"type": "string", "enum": ["table", "column", "any"]},
                        "Only tables or only columns. A table also matches through its columns'"
                        " names (below any match of its own name), and lists them in"
                        " matched_columns",
                        allow_empty=True,
                    ),
                    _SEARCH_DATABASE_ID,
                    _param("schema", "query", {"type": "string"}, "Only this schema (repeatable)"),
                    _param(
                        "type",
                        "query",
                        {"type": "string", "enum": list(TABLE_TYPES)},
                        "Only tables of this type, and their columns (repeatable)",
                    ),
                    _param(
                        "data_type",
                        "query",
                        {"type": "string"},
                        "Only columns of this type, as the database names it, e.g. `text` or"
                        " `character varying(255)` (repeatable; not with kind=table)",
                    ),
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 100},
                        "Hits per page (10)",
                        allow_empty=True,
                    ),
                    _param(
                        "cursor",
                        "query",
                        {"type": "string"},
                        "next_cursor of the previous page, with the same other parameters. Pages"
                        f" reach {MAX_SEARCH_DEPTH:,} hits deep at most; 409 when a crawl finished"
                        " since the first page",
                    ),
                    _param(
                        "facets",
                        "query",
                        {"type": "boolean"},
                        "Also count every hit per database_id, schema, kind, table_type and"
                        " data_type (columns only) (false): it costs a second pass over every hit",
                        allow_empty=True,
                    ),
                ],
            )
        },
        "/v1/suggest": {
            "get": _operation(
                "Table and column names completing a prefix, for search-as-you-type",
                {
                    "200": _json(schemas.Suggestions, "Distinct names, best first"),
                    **_problems(400, 404, 503),
                },
                params=[
                    _QUERY,
                    _param(
                        "kind",
                        "query",
                        {"type": "string", "enum": ["table", "column", "any"]},
                        "Only table names or only column names",
                        allow_empty=True,
                    ),
                    _SEARCH_DATABASE_ID,
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 50},
                        "How many names (10)",
                        allow_empty=True,
                    ),
                ],
            )
        },
        "/search/{database_id}/{table_name}": {
            "get": _operation(
                "Tables matching a name, in the seed's shape",
                {
                    "200": _json(schemas.SeedSchema, "Matching tables"),
                    **_problems(404, 409, 503),
                    # The sketch's own 404 when no table matches: {"detail": "Table not found"}.
                    "404": _seed_not_found(),
                },
                params=[
                    _DATABASE_ID,
                    _param(
                        "table_name",
                        "path",
                        {"type": "string"},
                        "A table name; typos are tolerated",
                    ),
                ],
            )
        },
        "/{database_id}": {
            "get": _operation(
                "The whole schema in the seed's shape, streamed",
                {"200": _json(schemas.SeedSchema, "The schema"), **_problems(404, 409, 503)},
                params=[_DATABASE_ID],
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Data catalog indexer", "version": API_VERSION},
        "paths": paths,
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


# The API reference page: ReDoc, served from the package (gateway/static, rebuilt by
# scripts/vendor-redoc), so it works without internet.
REDOC_PAGE = f"""<!DOCTYPE html>
<html><head><title>Data catalog indexer API</title><meta charset="utf-8"/></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="{REDOC_BUNDLE_PATH}"></script>
</body></html>
"""

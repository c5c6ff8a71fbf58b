"""Fuzz every operation of /openapi.json with schemathesis, against a live gateway over fakes.

aiohttp is neither ASGI nor WSGI, so the app serves a real port on 127.0.0.1 from an event loop
in a thread of its own, and schemathesis sends what it generates there with `requests`. Bounded
and deterministic: a fixed number of examples per operation, derandomized, no example database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema

from catalog.bootstrap import Services
from catalog.cipher import SecretCipher, generate_key
from catalog.documents import documents_for_table
from catalog.models import DEFAULT_TENANT, ForeignKey
from catalog.netguard import TargetPolicy
from catalog.principal import Role
from catalog.settings import Settings
from catalog.tokens import new_token, token_hash
from gateway.app import create_app
from gateway.cursors import encode_cursor
from gateway.openapi import openapi_document
from tests.factories import PASSWORD, full_plan, table
from tests.fakes import FakeCrawler, InMemorySearchIndex, InMemoryStore

T = TypeVar("T")

TOKEN = "cat_fuzz_operator_admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = 25  # per operation and generation mode
AUTH_EXAMPLES = 5  # per operation and kind of bad credential
SEED_SCHEMA, SEED_TABLE = "public", "orders"
BODY = {"dbname": "shop", "user": "reader", "password": PASSWORD, "host": "10.0.0.5", "port": 5432}

# Known at collection time from the same function that serves /openapi.json; a test below checks
# that the served document has exactly these, so no operation escapes the fuzzing.
OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method in {"get", "put", "post", "patch", "delete"}
]


def _negatable(method: str, path: str) -> bool:
    """Whether invalid data can be sent at all: a body, or a query parameter. A path parameter
    typed only as a string has no invalid value, and the token is fixed, so hypothesis finds
    nothing to generate for the rest (Unsatisfiable)."""
    spec = openapi_document()["paths"][path][method.lower()]
    return "requestBody" in spec or any(p["in"] != "path" for p in spec.get("parameters", []))


FUZZED = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or _negatable(method, path)
]
PROTECTED = [
    (method, path)
    for method, path in OPERATIONS
    if openapi_document()["paths"][path][method.lower()].get("security") != []
]

# Built-in checks, looked up by name (schemathesis 4 registers them in `schemathesis.checks`).
CONFORMANCE = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]
CHECKS = {
    GenerationMode.POSITIVE: CONFORMANCE,
    # Invalid input must be refused with a 4xx, not accepted.
    GenerationMode.NEGATIVE: [*CONFORMANCE, schemathesis.checks.negative_data_rejection],
}

# Deterministic and bounded: a fixed seed per test, no writes of examples anywhere, no shrinking
# (a failure reports its case as a curl command instead), no deadline on a shared 2-core box.
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.filter_too_much),
    print_blob=False,
)


async def _resolve(host: str, port: int) -> list[str]:
    """A resolver without DNS, so runs are hermetic and repeatable: by the name's length, a
    host does not resolve, resolves to a refused address or to a permitted one."""
    match len(host) % 3:
        case 0:
            raise OSError(f"{host} does not resolve")
        case 1:
            return ["169.254.169.254"]  # the metadata service: always refused
        case _:
            return ["192.0.2.10"]  # TEST-NET-1


class LiveGateway:
    """An aiohttp app on 127.0.0.1 and a free port, served by an event loop in its own thread."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fuzz-gateway")
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (the fakes belong to it) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _serve(self) -> str:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        # Port 0: the kernel picks a free one, with no race between choosing and binding it.
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        self.base_url = self.run(self._serve())

    def stop(self) -> None:
        try:
            if self._runner is not None:
                self.run(self._runner.cleanup())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()


class World:
    """The live gateway, its fakes, the loaded schema and one registered, crawled database."""

    def __init__(self, gateway: LiveGateway, store: InMemoryStore, index: InMemorySearchIndex):
        self.gateway = gateway
        self.store = store
        self.index = index
        self.session = requests.Session()
        self.schema: BaseSchema = schemathesis.openapi.from_url(
            f"{gateway.base_url}/openapi.json", timeout=10
        )
        self._database_id: str | None = None
        self._crawl_id = ""

    def url(self, path: str) -> str:
        return self.gateway.base_url + path

    def seeded(self) -> dict[str, str]:
        """Path parameters that hit something: a database (registered again if a DELETE case
        removed it), its crawl and a table of it."""
        if self._database_id is not None:
            response = self.session.get(
                self.url(f"/v1/databases/{self._database_id}"), headers=AUTH
            )
            if response.status_code != 200:
                self._database_id = None
        if self._database_id is None:
            response = self.session.post(self.url("/v1/databases"), json=BODY, headers=AUTH)
            assert response.status_code == 201, response.text
            created = response.json()
            self._database_id, self._crawl_id = created["id"], created["crawl"]["id"]
            self.gateway.run(self._crawled(self._database_id, self._crawl_id))
        return {
            "database_id": self._database_id,
            "crawl_id": self._crawl_id,
            "table_name": SEED_TABLE,
            "schema": SEED_SCHEMA,
            "table": SEED_TABLE,
            "token_id": self._spare_token(),
        }

    def _spare_token(self) -> str:
        """A token a DELETE case may revoke (never the one the fuzzing uses), made again if one
        did."""
        spare = next((t for t in self.store.tokens.values() if t.name == "spare"), None)
        if spare is not None:
            return spare.id
        add = self.store.add_token(token_hash(new_token()), "spare", Role.READER, DEFAULT_TENANT)
        return self.gateway.run(add)

    async def _crawled(self, database_id: str, crawl_id: str) -> None:
        # As the worker would leave it: one table indexed, the crawl complete and live. Its key
        # to itself gives the table route a referenced_by to answer.
        parent = ForeignKey("orders_parent", ("customer_id",), SEED_SCHEMA, SEED_TABLE, ("id",))
        seed = dataclasses.replace(
            table(SEED_SCHEMA, SEED_TABLE, "id", "customer_id"), foreign_keys=(parent,)
        )
        await self.index.upsert(
            documents_for_table(database_id, 1, 0, seed, tenant_id=DEFAULT_TENANT)
        )
        await self.store.start_crawl(crawl_id, full_plan())
        await self.store.complete_crawl(crawl_id)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # database=None stores no examples, but hypothesis still caches constants and Unicode tables
    # under ./.hypothesis: keep them out of the repository.
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    store, index = InMemoryStore(), InMemorySearchIndex()
    # Limits high enough that the fuzzing explores the routes, not the rate limiter.
    settings_ = Settings(
        rate_limit=1e6,
        rate_burst=1_000_000,
        max_crawls_per_tenant=1_000_000,
        auth_failure_burst=1_000_000,
    )
    services = Services(settings_, store, index, SecretCipher.from_keys([generate_key()]), None)
    policy = dataclasses.replace(TargetPolicy.from_lists((), ()), resolve=_resolve)
    app = create_app(services, policy=policy, crawlers=FakeCrawler({}).factory())
    gateway = LiveGateway(app)
    gateway.start()
    try:
        gateway.run(store.add_token(token_hash(TOKEN), "fuzz", Role.ADMIN, DEFAULT_TENANT))
        world = World(gateway, store, index)
        try:
            yield world
        finally:
            world.session.close()
    finally:
        gateway.stop()
        set_hypothesis_home_dir(None)


def _labels(operations: list[tuple[str, str]]) -> list[str]:
    return [f"{method} {path}" for method, path in operations]


def _strategy(
    operation: APIOperation, mode: GenerationMode, seeded: dict[str, str], **fixed: Any
) -> st.SearchStrategy[Case]:
    """Generated cases, and as many again whose path parameters name the seeded resources."""
    generated = operation.as_strategy(generation_mode=mode, **fixed)
    names = set(re.findall(r"{(\w+)}", operation.path))
    if not names:
        return generated
    known = {name: seeded[name] for name in names}
    return st.one_of(
        generated, operation.as_strategy(generation_mode=mode, path_parameters=known, **fixed)
    )


def _fuzz(strategy: st.SearchStrategy[T], examples: int, check: Callable[[T], None]) -> None:
    @settings(FUZZ, max_examples=examples)
    @given(example=strategy)
    def run(example: T) -> None:
        check(example)

    run()


def test_the_served_document_has_the_fuzzed_operations(world: World):
    served = {(op.ok().method.upper(), op.ok().path) for op in world.schema.get_all_operations()}
    assert served == set(OPERATIONS)
    assert len(OPERATIONS) >= 20


@pytest.mark.parametrize(("method", "path", "mode"), FUZZED)
def test_operation_answers_as_documented(
    world: World, method: str, path: str, mode: GenerationMode
):
    operation = world.schema[path][method]
    statuses: Counter[int] = Counter()

    def check(case: Case) -> None:
        response = case.call(base_url=world.gateway.base_url, session=world.session)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS[mode], headers=AUTH)

    # The token is fixed, so the cases explore the operation rather than the authentication.
    strategy = _strategy(operation, mode, world.seeded(), headers=AUTH)
    _fuzz(strategy, MAX_EXAMPLES, check)
    assert statuses.total() >= 1
    assert not any(status >= 500 for status in statuses), statuses
    assert 401 not in statuses, statuses  # the operator's admin token was accepted every time


@pytest.mark.parametrize(
    "credential", [None, "Bearer cat_not_a_token", "Basic Zm9vOmJhcg=="], ids=str
)
@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=_labels(PROTECTED))
def test_operation_refuses_a_missing_or_wrong_token(
    world: World, method: str, path: str, credential: str | None
):
    operation = world.schema[path][method]
    statuses: Counter[int] = Counter()

    def check(case: Case) -> None:
        case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}
        if credential is not None:
            case.headers["Authorization"] = credential
        response = case.call(base_url=world.gateway.base_url, session=world.session)
        statuses[response.status_code] += 1
        assert response.status_code == 401, (case.as_curl_command(), response.text)
        # schemathesis' responses keep headers lower-cased, with a list of values each.
        assert response.headers["content-type"][0].startswith("application/problem+json")
        assert response.headers["www-authenticate"] == ["Bearer"]
        assert response.json()["status"] == 401
        case.validate_response(response, checks=CONFORMANCE)

    strategy = _strategy(operation, GenerationMode.POSITIVE, world.seeded())
    _fuzz(strategy, AUTH_EXAMPLES, check)
    assert statuses.total() >= 1
    assert set(statuses) == {401}


# Cursors are opaque to clients but only base64 JSON: a forged one has the right keys and values
# of any JSON type. Random strings (all schemathesis can send) almost never decode, so these are
# generated here.
_JSON = st.recursive(
    # NaN and the infinities too: JSON parsers take them, and search engines refuse them.
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=4,
)
PAGED = [
    ("/v1/databases", ("after",), {}),
    ("/v1/tenants", ("after",), {}),
    ("/v1/audit", ("after",), {}),
    ("/v1/tokens", ("after",), {}),
    ("/v1/dead-letters", ("after",), {}),
    ("/v1/databases/{database_id}/changes", ("after",), {}),
    ("/v1/databases/{database_id}/tables", ("g", "o"), {}),
    ("/v1/search", ("score", "ordinal", "id", "depth", "query", "scopes"), {"q": SEED_TABLE}),
]


@pytest.mark.parametrize(("path", "keys", "query"), PAGED, ids=[p for p, *_ in PAGED])
def test_a_forged_cursor_is_refused_not_a_server_error(
    world: World, path: str, keys: tuple[str, ...], query: dict[str, str]
):
    url = world.url(path.format(**world.seeded()))
    statuses: Counter[int] = Counter()

    def check(position: dict[str, Any]) -> None:
        cursor = encode_cursor(position)
        response = world.session.get(url, params={**query, "cursor": cursor}, headers=AUTH)
        statuses[response.status_code] += 1
        # 400: not a cursor this API issued; 409: issued before the last crawl; 200: it could be.
        assert response.status_code in {200, 400, 409}, (position, response.text)
        if response.status_code != 200:
            assert response.headers["Content-Type"].startswith("application/problem+json")

    _fuzz(st.fixed_dictionaries(dict.fromkeys(keys, _JSON)), MAX_EXAMPLES, check)
    assert statuses[400] + statuses[409] >= 1, statuses  # some were refused, none failed


# Strings an attacker sends: control characters (CR/LF/NUL went verbatim into startup packets, and
# NUL into the store), very long labels (a 254-character host crashed the resolver), and text in
# any script.
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(max_codepoint=0x1F) | st.sampled_from("a\x7f\u2028\ufeff"), min_size=1),
    st.text("0a.-", min_size=200, max_size=600),
    st.text(min_size=1, max_size=50),
)
WITH_BODY = [
    (method, path)
    for method, path in OPERATIONS
    if "requestBody" in openapi_document()["paths"][path][method.lower()]
]
WITH_QUERY = [
    (method, path)
    for method, path in OPERATIONS
    if any(
        p["in"] == "query"
        for p in openapi_document()["paths"][path][method.lower()].get("parameters", [])
    )
]
HOSTILE_EXAMPLES = 15  # per operation


def _answered_without_a_server_error(response: Any, case: Case) -> None:
    assert response.status_code < 500, (case.as_curl_command(), response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "path"), WITH_BODY + WITH_QUERY, ids=_labels(WITH_BODY + WITH_QUERY)
)
def test_hostile_strings_in_any_field_are_refused_or_served_never_a_500(
    world: World, method: str, path: str
):
    """Every string of a valid request (body fields, query parameters) replaced by hostile text."""
    operation = world.schema[path][method]
    statuses: Counter[int] = Counter()

    def check(example: tuple[Case, str]) -> None:
        case, text = example
        if isinstance(case.body, dict):
            case.body = {k: text if isinstance(v, str) else v for k, v in case.body.items()}
        if case.query:
            case.query = dict.fromkeys(case.query, text)
        response = case.call(base_url=world.gateway.base_url, session=world.session)
        statuses[response.status_code] += 1
        _answered_without_a_server_error(response, case)

    cases = _strategy(operation, GenerationMode.POSITIVE, world.seeded(), headers=AUTH)
    _fuzz(st.tuples(cases, HOSTILE_TEXT), HOSTILE_EXAMPLES, check)
    assert statuses.total() >= 1


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=_labels(WITH_BODY))
def test_deeply_nested_bodies_are_a_4xx_never_a_500(world: World, method: str, path: str):
    url = world.url(path.format(**world.seeded()))
    for depth in (100, 2_000, 30_000):
        for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            response = world.session.request(
                method, url, data=body, headers={**AUTH, "Content-Type": "application/json"}
            )
            assert 400 <= response.status_code < 500, (depth, response.text[:200])
            assert response.headers["Content-Type"].startswith("application/problem+json")

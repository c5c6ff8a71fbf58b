"""Search adapters for the contract, requirement and relevance suites: each test runs on both.

A test that the unit tests' fake (tests/fakes.py) must pass too adds it:
`pytest.mark.parametrize("index_factory", ["tantivy", "opensearch", "memory"], indirect=True)`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from catalog.adapters.opensearch_index import OpenSearchIndex
from catalog.adapters.tantivy_index import TantivyIndex
from catalog.search import SearchIndex
from tests.fakes import InMemorySearchIndex


@pytest.fixture(params=["tantivy", "opensearch"])
def index_factory(request: pytest.FixtureRequest, tmp_path) -> Callable[[], SearchIndex]:
    """Builds adapters on the same storage, so a test can reopen what another instance wrote.

    tantivy runs in a temporary directory; OpenSearch runs on the suite's real node, in an index
    of the test's own (the `opensearch_url` fixture deletes it after the test); the fake is one
    instance.
    """
    if request.param == "tantivy":
        return lambda: TantivyIndex(tmp_path / "search")
    if request.param == "memory":
        fake = InMemorySearchIndex()
        return lambda: fake
    url = request.getfixturevalue("opensearch_url")  # starts the node only for OpenSearch runs
    name = f"catalog-test-{uuid.uuid4().hex}"
    return lambda: OpenSearchIndex(url, name)


@pytest.fixture
async def search_index(index_factory: Callable[[], SearchIndex]) -> AsyncIterator[SearchIndex]:
    index = index_factory()
    await index.open()
    yield index
    await index.close()

"""The crawler port: what the indexer (crawling) and the gateway (testing a connection) need
from a target database. One adapter per engine family in catalog/adapters/, registered in
catalog/crawlers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from catalog.models import SslMode, Table, Target

RelationRef = str
"""A relation as its crawler names it, opaque to everyone else: stored in crawl plans, handed
back to the same engine's crawler (an OID in PostgreSQL, `schema.table` in MySQL)."""


@dataclass(frozen=True)
class Relation:
    """A relation to catalog, as the plan lists it.

    `fingerprint` is a digest of its definition, computed by the target: kind and name,
    comment, columns (name, type, nullability, default or generated expression, collation,
    comment, in order), keys and indexes, view definition and partitioning. It changes when
    any of those does, and only then: not with row counts or sizes, nor with physical details
    such as column numbers or object ids. Digests of one engine's crawler compare with each
    other, not with another engine's.
    """

    ref: RelationRef
    schema: str
    name: str
    fingerprint: str | None  # None when not asked for


@dataclass(frozen=True)
class AccessCheck:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class AccessReport:
    """What a connection test found: the server, and each privilege the crawler needs."""

    server_version: str
    checks: tuple[AccessCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


class Crawler(Protocol):
    """Reads one target database's catalog: a plan of relations, then batches of them in bulk."""

    def list_relations(self, fingerprints: bool = True) -> AsyncIterator[Relation]:
        """Every relation to catalog, in a stable order (schema, then name), streamed; with
        its fingerprint, computed in bulk by the target, if asked (it costs the target a
        pass over every definition: a first crawl, with nothing to compare, does without)."""
        ...

    async def read_batch(self, refs: Sequence[RelationRef]) -> list[Table]:
        """Tables for `refs`, in that order; relations dropped since the plan are skipped."""
        ...

    async def check_access(self) -> AccessReport: ...


CrawlerOpener = Callable[..., AbstractAsyncContextManager[Crawler]]
"""An adapter's crawler class: (target, password, *, connect_timeout, statement_timeout,
address) -> an async context manager that connects on enter and closes on exit."""


@dataclass(frozen=True)
class EngineFamily:
    """One engine family's adapter and the facts the API needs about it."""

    label: str  # how messages name it: "PostgreSQL", "MySQL/MariaDB"
    open: CrawlerOpener
    default_port: int
    tls_modes: tuple[SslMode, ...]  # in its client's own words; the first is the default
    # Whether a target must name a database: a MySQL user may crawl every schema it sees.
    dbname_required: bool
    # Whether the first bytes a server sent (answering the probe in catalog/adapters/wire.py)
    # come from this family's protocol.
    answered: Callable[[bytes], bool]


CrawlerFactory = Callable[[Target, str], AbstractAsyncContextManager[Crawler]]

"""Message definitions and subjects. Messages carry ids only, never credentials."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from catalog.errors import PermanentError
from catalog.models import SchemaChange

CRAWL_REQUESTED = "catalog.crawl.requested"
CRAWL_BATCH = "catalog.crawl.batch"
CRAWL_FINISHING = "catalog.crawl.finishing"
CRAWL_CONFIRMED = "catalog.crawl.confirmed"
DATABASE_DELETED = "catalog.database.deleted"
CRAWL_ENDED = "catalog.crawl.ended"
# What the indexers consume (the stream and its durable consumer are set up for these).
CRAWL_SUBJECTS = (
    CRAWL_REQUESTED,
    CRAWL_BATCH,
    CRAWL_FINISHING,
    CRAWL_CONFIRMED,
    DATABASE_DELETED,
    CRAWL_ENDED,
)


@dataclass(frozen=True)
class CrawlRequested:
    """A database should be crawled: plan the crawl into batches."""

    crawl_id: str
    database_id: str


@dataclass(frozen=True)
class CrawlBatchRequested:
    """One planned batch of a crawl should be read and indexed."""

    crawl_id: str
    database_id: str
    number: int

    @property
    def message_id(self) -> str:
        return f"{self.crawl_id}:batch:{self.number}"


@dataclass(frozen=True)
class CrawlFinishing:
    """Every batch of a crawl is done: publish it, or hold it (the fail-safe). A message of its
    own, sent by the store with the last batch's completion, so finishing is quick to redo
    whichever worker dies, and never waits for a batch to be read again."""

    crawl_id: str
    database_id: str


@dataclass(frozen=True)
class CrawlConfirmed:
    """Someone confirmed a held crawl's fall in tables: publish it."""

    crawl_id: str
    database_id: str


@dataclass(frozen=True)
class CrawlEnded:
    """A crawl left the active states (complete, failed or held), whichever step ended it: sent
    by the store in the transaction that ended it, once per change of state, so it is counted
    and recorded once (catalog.metrics, SearchIndex.record_crawl)."""

    crawl_id: str
    database_id: str


@dataclass(frozen=True)
class DatabaseDeleted:
    """A database was deleted from the store: its documents must leave the index."""

    database_id: str

    @property
    def crawl_id(self) -> None:
        return None  # not about one crawl


# Announced once per completed crawl that found changes (never consumed by the indexers):
# `catalog.schema.changed.<database_id>`, under the deployment's subject prefix.
SCHEMA_CHANGED = "catalog.schema.changed"
# Changes listed in one event at most; the history route has them all.
MAX_EVENT_CHANGES = 1_000


def schema_changed_subject(database_id: str) -> str:
    return f"{SCHEMA_CHANGED}.{database_id}"


@dataclass(frozen=True)
class SchemaChanged:
    """A crawl found changes: names and kinds only, never a secret."""

    tenant_id: str
    database_id: str
    crawl_id: str
    generation: int
    counts: dict[str, int]
    changes: list[dict[str, str | None]]
    truncated: bool

    @classmethod
    def of(
        cls, tenant_id: str, crawl_id: str, generation: int, changes: list[SchemaChange]
    ) -> SchemaChanged:
        counts = Counter(str(change.kind) for change in changes)
        listed = [
            {
                "kind": str(change.kind),
                "schema": change.schema,
                "name": change.name,
                "old_schema": change.old_schema,
                "old_name": change.old_name,
            }
            for change in changes[:MAX_EVENT_CHANGES]
        ]
        database_id = changes[0].database_id
        truncated = len(changes) > MAX_EVENT_CHANGES
        return cls(tenant_id, database_id, crawl_id, generation, dict(counts), listed, truncated)


Message = (
    CrawlRequested
    | CrawlBatchRequested
    | CrawlFinishing
    | CrawlConfirmed
    | DatabaseDeleted
    | CrawlEnded
)
_BY_SUBJECT: dict[str, type[Message]] = {
    CRAWL_REQUESTED: CrawlRequested,
    CRAWL_BATCH: CrawlBatchRequested,
    CRAWL_FINISHING: CrawlFinishing,
    CRAWL_CONFIRMED: CrawlConfirmed,
    DATABASE_DELETED: DatabaseDeleted,
    CRAWL_ENDED: CrawlEnded,
}


# Everything the outbox sends: crawl messages, and schema change events.
Outgoing = Message | SchemaChanged


def encode(message: Outgoing) -> bytes:
    return json.dumps(asdict(message)).encode()


def decode(subject: str, data: bytes) -> Message:
    """Parse a message; anything malformed is a PermanentError (retrying cannot fix it)."""
    kind = _BY_SUBJECT.get(subject)
    if kind is None:
        raise PermanentError(f"unknown subject {subject!r}")
    try:
        fields: Any = json.loads(data)
        message = kind(**fields)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"malformed {subject} message: {exc}") from None
    if not all(isinstance(v, str) and v for k, v in fields.items() if k != "number"):
        raise PermanentError(f"malformed {subject} message: ids must be non-empty strings")
    if isinstance(message, CrawlBatchRequested) and (
        not isinstance(message.number, int) or message.number < 0
    ):
        raise PermanentError(f"malformed {subject} message: number must be a whole number >= 0")
    return message

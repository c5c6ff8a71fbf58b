"""The store port: databases, crawls, tokens and the outbox, all in one transactional store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from catalog.cipher import Sealed
from catalog.crawl_plan import CrawlPlan, LiveCatalog
from catalog.models import (
    AuditEvent,
    Batch,
    Crawl,
    Database,
    DeadLetter,
    SchemaChange,
    Tenant,
    TokenInfo,
)
from catalog.principal import Principal, Role


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    subject: str
    payload: dict[str, Any]

    @property
    def message_id(self) -> str:
        """Deduplication id for the broker: a message relayed twice is stored once."""
        return f"outbox-{self.id}"


Publish = Callable[[OutboxMessage], Awaitable[None]]


class Store(Protocol):
    async def ping(self) -> None: ...

    # Tokens and tenants
    async def deployment_id(self) -> str:
        """This deployment's id, made once by the store's migrations."""

    async def add_token(
        self,
        token_hash: bytes,
        name: str,
        role: Role,
        tenant_id: str,
        *,
        expires_at: datetime | None = None,
        bootstrap: bool = False,
    ) -> str:
        """Store a token's hash; its id (the existing one if the hash is known already)."""

    async def token_principal(self, token_hash: bytes) -> Principal | None:
        """Who the token is, unless it is unknown, revoked or expired; the subject is its id."""

    async def list_tokens(self, tenant_id: str, after: str | None, limit: int) -> list[TokenInfo]:
        """The tenant's tokens by id, a page at a time."""

    async def revoke_token(self, tenant_id: str, token_id: str) -> bool:
        """Delete the tenant's token; False if it has none with that id."""

    async def revoke_bootstrap_tokens(self, keep: bytes) -> int:
        """Delete every bootstrap admin token but the one with hash `keep`; how many went."""

    async def add_tenant(self, tenant: Tenant) -> None: ...
    async def get_tenant(self, tenant_id: str) -> Tenant: ...
    async def list_tenants(self, after: str | None, limit: int) -> list[Tenant]: ...

    # Audit
    async def add_audit(
        self,
        tenant_id: str,
        actor: str,
        action: str,
        database_id: str | None,
        detail: dict[str, Any],
    ) -> None: ...
    async def list_audit(
        self, tenant_id: str, after: int | None, limit: int
    ) -> list[AuditEvent]: ...

    # Databases
    async def add_database(
        self, database: Database, password: Sealed, crawl_id: str, max_active: int | None = None
    ) -> Crawl:
        """Insert the database, its first crawl and the crawl request, in one transaction;
        CrawlCapacityError if the tenant has `max_active` crawls queued or running already."""

    async def get_database(self, database_id: str) -> Database: ...
    async def list_databases(
        self, tenant_id: str, after: str | None, limit: int
    ) -> list[Database]: ...
    async def update_database(self, database: Database, password: Sealed | None) -> None:
        """Store a database's new name, target and schedule (and password, if given)."""

    async def delete_database(self, database_id: str) -> None:
        """Delete the database and its crawls, and ask (outbox) for its documents to go."""

    async def sealed_password(self, database_id: str) -> Sealed: ...
    async def sealed_passwords(self, after: str | None, limit: int) -> list[tuple[str, Sealed]]:
        """Every database's sealed password, by id, a page at a time (for key rotation)."""

    async def sealed_password_per_key(self) -> list[tuple[str, Sealed]]:
        """One database's sealed password for each key id in use, by id (readiness probes)."""

    async def reseal_password(self, database_id: str, old: Sealed, new: Sealed) -> bool:
        """Replace a sealed password if it is still `old`; False if it changed meanwhile."""

    async def live_scopes(self, tenant_id: str, database_ids: Sequence[str] | None) -> list[str]:
        """The live generation of each of the tenant's databases (or of those named) that has
        one; IndexLostError if any of them lost its documents from the index."""

    # Crawls
    async def request_crawl(
        self, database_id: str, crawl_id: str, max_active: int | None = None, full: bool = False
    ) -> Crawl:
        """The crawl that will carry a request made now: the queued one (requests coalesce, and
        a full request makes it full), or a new one, which waits for the crawl already
        planned, if any, so that it sees changes made before the request; CrawlCapacityError
        if it would pass the tenant's `max_active`."""

    async def start_due_crawls(self, limit: int) -> list[Crawl]:
        """Start the scheduled crawls that are due (up to `limit`), each once however many
        indexers ask at once, and set each database's next one an interval (±10%) later; a
        database with a crawl under way is only rescheduled."""

    async def get_crawl(self, crawl_id: str) -> Crawl: ...

    async def database_status(self, database_id: str) -> tuple[Database, Crawl | None]:
        """The database and its latest crawl, read together (NotFoundError if unknown)."""

    async def latest_crawl(self, database_id: str) -> Crawl | None: ...
    async def latest_crawls(self, database_ids: Sequence[str]) -> dict[str, Crawl]:
        """The latest crawl of each database, in one round trip."""

    async def live_relations(self, database_id: str) -> LiveCatalog | None:
        """The relations of the live generation, to plan an incremental crawl against; None
        when there is no live generation or it kept no fingerprints (its next crawl is full)."""

    async def start_crawl(self, crawl_id: str, plan: CrawlPlan) -> Crawl:
        """Record the plan (the relations it reads, with their fingerprints and ordinals, and
        its batches; for an incremental one, the live relations it keeps, which count among
        its tables and columns from the start), and move a queued crawl to running (finishing,
        if it has nothing to read). An existing plan is kept as it is. TransientError if the
        live generation an incremental plan compared with is no longer live (plan again)."""

    async def get_batch(self, crawl_id: str, number: int) -> Batch: ...
    async def complete_batch(
        self, crawl_id: str, number: int, columns_by_ref: Mapping[str, int]
    ) -> Crawl:
        """Mark a batch done once (a second call changes nothing), with how many columns each
        relation read had (a relation of the batch not read was dropped meanwhile: it is left
        out of the crawl), and return the crawl. The last one moves the crawl to finishing
        and sends its CrawlFinishing, once."""

    async def superseded_refs(self, crawl_id: str) -> list[str]:
        """The relations of the generation an incremental crawl was planned on that it does
        not keep: read again, renamed or dropped. Their documents retire when it publishes."""

    async def complete_crawl(self, crawl_id: str) -> Crawl:
        """Mark a finishing (or confirmed held) crawl complete, make its generation the one
        readers see, and clear its database's lost mark; any other crawl is returned as is.
        An incremental crawl whose live generation changed since its plan fails instead
        (`replanned`), and a crawl is requested in its place. The relations whose fingerprints
        differ from the crawl it replaces are recorded as changes (none for the first) and
        announced in one SchemaChanged event (outbox)."""

    async def list_changes(
        self,
        database_id: str,
        since: datetime | None,
        after: int | None,
        limit: int,
        relation: tuple[str, str] | None = None,
    ) -> list[SchemaChange]:
        """The database's recorded changes in order, from `since`, after the change `after`;
        with `relation` (schema, name), only that relation's, under that name or renamed from
        it."""

    async def count_changes(self, crawl_id: str) -> int:
        """How many relations the crawl found added, dropped, renamed or altered."""

    async def changes_to_describe(self, crawl_id: str) -> list[SchemaChange]:
        """The crawl's altered and renamed relations whose detail is not recorded yet."""

    async def describe_change(self, change_id: int, detail: dict[str, Any]) -> None:
        """Record what differs in a changed relation (catalog.schema_diff)."""

    async def prune_changes(self, older_than: datetime) -> int:
        """Forget changes recorded before `older_than`; how many went."""

    async def fail_crawl(self, crawl_id: str, error_class: str, message: str) -> Crawl:
        """Mark a crawl that is not complete failed. Ending a crawl (failed, held or complete)
        sends the request of the follow-up crawl that waited for it."""

    async def fail_stalled_crawls(self, stalled_for: float) -> list[Crawl]:
        """Fail, as `stalled`, every running or finishing crawl that has not moved on for
        `stalled_for` seconds: the backstop for messages lost with no advisory."""

    async def live_documents(self) -> dict[str, int]:
        """How many documents each database's live generation (its scope) has in the index."""

    async def mark_index_lost(self, scopes: Sequence[str]) -> list[Crawl]:
        """Mark the databases whose live generations these are (if still live) as having lost
        their documents, and request a full crawl of each newly marked one; those crawls."""

    async def note_retry(self, crawl_id: str, error_class: str, attempt: int, at: datetime) -> None:
        """Record that a queued or running crawl's message failed and is tried again `at`;
        starting the crawl and each batch done clear it."""

    async def live_crawl(self, database_id: str) -> Crawl | None:
        """The crawl whose generation readers see now."""

    async def hold_crawl(self, crawl_id: str, reason: str) -> Crawl:
        """Keep a finished crawl from publishing until someone confirms it (the fail-safe)."""

    async def confirm_crawl(self, crawl_id: str) -> Crawl:
        """Queue the publication of a held crawl; ConflictError if it is not held, or a newer
        crawl of its database is active or complete (it would publish over that one), or it is
        incremental and the live generation is no longer the one it was planned on."""

    # Dead letters
    async def add_dead_letter(
        self,
        subject: str,
        reason: str,
        crawl_id: str | None,
        stream_sequence: int | None,
        deliveries: int,
    ) -> None:
        """Record a message given up on; the same message (stream sequence, subject, crawl and
        deliveries) recorded again within the hour is recorded once."""

    async def list_dead_letters(
        self, tenant_id: str | None, crawl_id: str | None, after: int | None, limit: int
    ) -> list[DeadLetter]:
        """Dead letters of the tenant's crawls; tenant None: all, malformed ones included."""

    # Outbox
    async def relay_outbox(self, publish: Publish, limit: int) -> int:
        """Publish unsent messages in order and mark them sent; returns how many were sent."""

    async def outbox_backlog(self) -> int:
        """How many messages wait in the outbox to be published."""

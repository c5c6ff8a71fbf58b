"""Fakes of our own ports, with their state in the open for tests to assert on."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.cipher import Sealed
from catalog.crawl_plan import CrawlPlan, LiveCatalog, LiveRelation
from catalog.crawler import AccessCheck, AccessReport, Relation
from catalog.documents import (
    NEVER_RETIRED,
    Document,
    DocumentKind,
    Scope,
    generation_scope,
    referenced_relations,
    relation_key,
)
from catalog.errors import (
    ConflictError,
    CrawlCapacityError,
    CrawlFailure,
    IndexLostError,
    NotFoundError,
    TransientError,
)
from catalog.identifiers import compact_name, identifier_parts
from catalog.messages import (
    CRAWL_BATCH,
    CRAWL_CONFIRMED,
    CRAWL_ENDED,
    CRAWL_FINISHING,
    CRAWL_REQUESTED,
    DATABASE_DELETED,
    SCHEMA_CHANGED,
    CrawlBatchRequested,
    CrawlConfirmed,
    CrawlEnded,
    CrawlFinishing,
    CrawlRequested,
    DatabaseDeleted,
    Message,
    Outgoing,
    SchemaChanged,
    decode,
    schema_changed_subject,
)
from catalog.models import (
    ACTIVE_CRAWL_STATES,
    DEFAULT_TENANT,
    AuditEvent,
    Batch,
    ChangeKind,
    Crawl,
    CrawlState,
    Database,
    DeadLetter,
    SchemaChange,
    Table,
    Target,
    Tenant,
    TokenInfo,
)
from catalog.principal import Principal, Role
from catalog.search import (
    FACET_FIELDS,
    SearchHit,
    SearchPage,
    SearchQuery,
    Suggestion,
    SuggestQuery,
    facet_counts,
    merge_suggestions,
)
from catalog.store import OutboxMessage, Publish


def _due(interval: int | None) -> datetime | None:
    """When a scheduled crawl is next due (no jitter here: tests move the clock themselves)."""
    return None if interval is None else _now() + timedelta(seconds=interval)


def _live_scope(db: Database) -> str:
    return generation_scope(db.id, db.live_generation or 0, db.live_base)


def _place(relation: Relation) -> tuple[str, str]:
    return relation.schema, relation.name


def _now() -> datetime:
    return datetime.now(UTC)


# A crawl that moves on is no longer retrying.
_RETRY_CLEARED: dict[str, Any] = {"retry_attempts": 0, "retry_error_class": None, "retry_at": None}


class InMemoryStore:
    def __init__(self) -> None:
        self.tokens: dict[bytes, TokenInfo] = {}
        self.tenants: dict[str, Tenant] = {
            DEFAULT_TENANT: Tenant(DEFAULT_TENANT, "default", _now())
        }
        self.audit: list[AuditEvent] = []
        self.databases: dict[str, Database] = {}
        self.passwords: dict[str, Sealed] = {}
        self.crawls: dict[str, Crawl] = {}
        self.batches: dict[tuple[str, int], tuple[Batch, bool]] = {}
        self.outbox: list[tuple[OutboxMessage, bool]] = []
        self.dead_letters: list[DeadLetter] = []
        self.relations: dict[str, dict[str, Relation]] = {}  # by crawl, then ref
        # By crawl, then ref: [ordinal, columns or None, written_in or None] (see LiveRelation).
        self.placed: dict[str, dict[str, list[int | None]]] = {}
        self.superseded: dict[str, list[str]] = {}  # by crawl: the live refs it does not keep
        self.changes: list[SchemaChange] = []

    async def ping(self) -> None:
        return None

    async def deployment_id(self) -> str:
        return "dep_inmemory"

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
        known = self.tokens.get(token_hash)
        token_id = known.id if known is not None else f"tok_{len(self.tokens) + 1:04d}"
        created = known.created_at if known is not None else _now()
        self.tokens[token_hash] = TokenInfo(
            token_id, name, str(role), tenant_id, created, expires_at, bootstrap
        )
        return token_id

    async def token_principal(self, token_hash: bytes) -> Principal | None:
        found = self.tokens.get(token_hash)
        if found is None or (found.expires_at is not None and found.expires_at <= _now()):
            return None
        return Principal(found.tenant_id, Role(found.role), f"token:{found.id}")

    async def list_tokens(self, tenant_id: str, after: str | None, limit: int) -> list[TokenInfo]:
        mine = sorted(
            (t for t in self.tokens.values() if t.tenant_id == tenant_id), key=lambda t: t.id
        )
        return [t for t in mine if after is None or t.id > after][:limit]

    async def revoke_token(self, tenant_id: str, token_id: str) -> bool:
        for hashed, found in list(self.tokens.items()):
            if (found.tenant_id, found.id) == (tenant_id, token_id):
                del self.tokens[hashed]
                return True
        return False

    async def revoke_bootstrap_tokens(self, keep: bytes) -> int:
        gone = [h for h, t in self.tokens.items() if t.bootstrap and h != keep]
        for hashed in gone:
            del self.tokens[hashed]
        return len(gone)

    async def add_tenant(self, tenant: Tenant) -> None:
        if tenant.id in self.tenants or any(t.name == tenant.name for t in self.tenants.values()):
            raise ConflictError(f"a tenant named {tenant.name!r} exists already")
        self.tenants[tenant.id] = tenant

    async def get_tenant(self, tenant_id: str) -> Tenant:
        if tenant_id not in self.tenants:
            raise NotFoundError(f"no tenant with id {tenant_id!r}")
        return self.tenants[tenant_id]

    async def list_tenants(self, after: str | None, limit: int) -> list[Tenant]:
        return [self.tenants[i] for i in sorted(self.tenants) if after is None or i > after][:limit]

    async def add_audit(
        self,
        tenant_id: str,
        actor: str,
        action: str,
        database_id: str | None,
        detail: dict[str, Any],
    ) -> None:
        event = AuditEvent(
            len(self.audit) + 1, _now(), tenant_id, actor, action, database_id, detail
        )
        self.audit.append(event)

    async def list_audit(self, tenant_id: str, after: int | None, limit: int) -> list[AuditEvent]:
        mine = [
            e for e in self.audit if e.tenant_id == tenant_id and (after is None or e.id > after)
        ]
        return mine[:limit]

    def _check_capacity(self, tenant_id: str, max_active: int | None) -> None:
        if max_active is not None and self._active_crawls(tenant_id) >= max_active:
            raise CrawlCapacityError(max_active)

    def _active_crawls(self, tenant_id: str) -> int:
        return sum(
            1
            for c in self.crawls.values()
            if c.state in ACTIVE_CRAWL_STATES
            and c.database_id in self.databases
            and self.databases[c.database_id].tenant_id == tenant_id
        )

    async def update_database(self, database: Database, password: Sealed | None) -> None:
        before = self.databases[database.id]
        if database.crawl_interval != before.crawl_interval:
            database = dataclasses.replace(database, next_crawl_at=_due(database.crawl_interval))
        self.databases[database.id] = database
        if password is not None:
            self.passwords[database.id] = password

    async def delete_database(self, database_id: str) -> None:
        await self.get_database(database_id)
        del self.databases[database_id]
        self.crawls = {i: c for i, c in self.crawls.items() if c.database_id != database_id}
        self._enqueue(DATABASE_DELETED, DatabaseDeleted(database_id))

    async def add_database(
        self, database: Database, password: Sealed, crawl_id: str, max_active: int | None = None
    ) -> Crawl:
        self._check_capacity(database.tenant_id, max_active)
        scheduled = _due(database.crawl_interval)
        self.databases[database.id] = dataclasses.replace(database, next_crawl_at=scheduled)
        self.passwords[database.id] = password
        return self._queue(database.id, crawl_id, 1)

    async def start_due_crawls(self, limit: int) -> list[Crawl]:
        now, started = _now(), []
        for db in list(self.databases.values()):
            if db.next_crawl_at is None or db.next_crawl_at > now or len(started) == limit:
                continue
            self.databases[db.id] = dataclasses.replace(db, next_crawl_at=_due(db.crawl_interval))
            mine = [c for c in self.crawls.values() if c.database_id == db.id]
            if not any(c.state in ACTIVE_CRAWL_STATES for c in mine):
                started.append(await self.request_crawl(db.id, f"crawl-due-{len(self.crawls)}"))
        return started

    def _queue(
        self, database_id: str, crawl_id: str, generation: int, after: str | None = None
    ) -> Crawl:
        crawl = Crawl(
            crawl_id, database_id, generation, CrawlState.QUEUED, _now(), queued_after=after
        )
        self.crawls[crawl_id] = crawl
        if after is None:
            self._enqueue(CRAWL_REQUESTED, CrawlRequested(crawl_id, database_id))
        return crawl

    def _enqueue(self, subject: str, message: Outgoing) -> None:
        payload = dataclasses.asdict(message)
        self.outbox.append((OutboxMessage(len(self.outbox) + 1, subject, payload), False))

    def _ended(self, crawl: Crawl, changed: bool = True) -> Crawl:
        if changed:
            self._enqueue(CRAWL_ENDED, CrawlEnded(crawl.id, crawl.database_id))
        for waiting in list(self.crawls.values()):
            if waiting.queued_after == crawl.id:
                self._update(waiting, queued_after=None)
                self._enqueue(CRAWL_REQUESTED, CrawlRequested(waiting.id, waiting.database_id))
        return crawl

    async def get_database(self, database_id: str) -> Database:
        if database_id not in self.databases:
            raise NotFoundError(f"no database with id {database_id!r}")
        return self.databases[database_id]

    async def list_databases(self, tenant_id: str, after: str | None, limit: int) -> list[Database]:
        ids = sorted(
            i
            for i, db in self.databases.items()
            if db.tenant_id == tenant_id and (after is None or i > after)
        )
        return [self.databases[i] for i in ids[:limit]]

    async def sealed_password(self, database_id: str) -> Sealed:
        await self.get_database(database_id)
        return self.passwords[database_id]

    async def sealed_passwords(self, after: str | None, limit: int) -> list[tuple[str, Sealed]]:
        ids = sorted(i for i in self.passwords if after is None or i > after)[:limit]
        return [(i, self.passwords[i]) for i in ids]

    async def sealed_password_per_key(self) -> list[tuple[str, Sealed]]:
        first: dict[str, tuple[str, Sealed]] = {}
        for database_id in sorted(self.passwords):
            sealed = self.passwords[database_id]
            first.setdefault(sealed.key_id, (database_id, sealed))
        return [first[key_id] for key_id in sorted(first)]

    async def reseal_password(self, database_id: str, old: Sealed, new: Sealed) -> bool:
        if self.passwords.get(database_id) != old:
            return False
        self.passwords[database_id] = new
        return True

    async def live_scopes(self, tenant_id: str, database_ids: Sequence[str] | None) -> list[str]:
        live = [
            db
            for db in self.databases.values()
            if db.tenant_id == tenant_id
            and db.live_generation is not None
            and (database_ids is None or db.id in database_ids)
        ]
        if lost := [db.id for db in live if db.index_lost_at is not None]:
            raise IndexLostError.for_databases(lost)
        return [_live_scope(db) for db in live]

    async def request_crawl(
        self, database_id: str, crawl_id: str, max_active: int | None = None, full: bool = False
    ) -> Crawl:
        database = await self.get_database(database_id)
        mine = [c for c in self.crawls.values() if c.database_id == database_id]
        active = max(
            (c for c in mine if c.state in ACTIVE_CRAWL_STATES),
            key=lambda c: c.generation,
            default=None,
        )
        if active is not None and active.state is CrawlState.QUEUED:
            return self._update(active, full=active.full or full)
        self._check_capacity(database.tenant_id, max_active)
        after = None if active is None else active.id
        crawl = self._queue(database_id, crawl_id, max(c.generation for c in mine) + 1, after)
        return self._update(crawl, full=full)

    async def get_crawl(self, crawl_id: str) -> Crawl:
        if crawl_id not in self.crawls:
            raise NotFoundError(f"no crawl with id {crawl_id!r}")
        return self.crawls[crawl_id]

    async def database_status(self, database_id: str) -> tuple[Database, Crawl | None]:
        return await self.get_database(database_id), await self.latest_crawl(database_id)

    async def latest_crawl(self, database_id: str) -> Crawl | None:
        mine = [
            c for c in self.crawls.values() if c.database_id == database_id and not c.queued_after
        ]
        return max(mine, key=lambda c: c.generation, default=None)

    async def latest_crawls(self, database_ids: Sequence[str]) -> dict[str, Crawl]:
        latest = {i: await self.latest_crawl(i) for i in database_ids}
        return {i: c for i, c in latest.items() if c is not None}

    def _update(self, crawl: Crawl, **changes: object) -> Crawl:
        crawl = dataclasses.replace(crawl, **changes)
        self.crawls[crawl.id] = crawl
        return crawl

    async def live_relations(self, database_id: str) -> LiveCatalog | None:
        live = await self.live_crawl(database_id)
        if live is None or not self.relations.get(live.id):
            return None
        found = []
        for ref, relation in self.relations[live.id].items():
            if relation.fingerprint is None:
                return None
            ordinal = self.placed[live.id][ref][0]
            assert ordinal is not None
            found.append(
                LiveRelation(ref, relation.schema, relation.name, relation.fingerprint, ordinal)
            )
        base = next(
            c
            for c in self.crawls.values()
            if c.database_id == database_id
            and c.generation == self.databases[database_id].live_base
        )
        assert base.finished_at is not None
        return LiveCatalog(live.generation, found, base.finished_at)

    async def start_crawl(self, crawl_id: str, plan: CrawlPlan) -> Crawl:
        crawl = await self.get_crawl(crawl_id)
        if crawl.state is not CrawlState.QUEUED:
            return crawl
        db = self.databases[crawl.database_id]
        self.relations[crawl_id], self.placed[crawl_id] = {}, {}
        if not plan.full:
            if db.live_generation != plan.planned_on:
                raise TransientError("another crawl was published while it was planned")
            live = await self.live_crawl(db.id)
            assert live is not None
            for ref, relation in self.relations[live.id].items():
                if ref not in plan.replaced:  # kept as it is
                    self.relations[crawl_id][ref] = relation
                    self.placed[crawl_id][ref] = list(self.placed[live.id][ref])
        kept = list(self.placed[crawl_id].values())
        for p in plan.reads:
            self.relations[crawl_id][p.relation.ref] = p.relation
            self.placed[crawl_id][p.relation.ref] = [p.ordinal, None, None]
        for number, batch in enumerate(plan.batches):
            self.batches[(crawl_id, number)] = (
                Batch(crawl_id, number, batch.refs, batch.ordinals),
                False,
            )
        self.superseded[crawl_id] = list(plan.replaced)
        crawl = self._update(
            crawl,
            state=CrawlState.RUNNING if plan.batches else CrawlState.FINISHING,
            started_at=_now(),
            progressed_at=_now(),
            batches_total=len(plan.batches),
            base_generation=crawl.generation if plan.full else db.live_base,
            planned_on=db.live_generation,
            tables=len(kept),
            columns=sum(columns or 0 for _, columns, _ in kept),
            **_RETRY_CLEARED,
        )
        if not plan.batches:
            self._enqueue(CRAWL_FINISHING, CrawlFinishing(crawl.id, crawl.database_id))
        return crawl

    async def get_batch(self, crawl_id: str, number: int) -> Batch:
        if (crawl_id, number) not in self.batches:
            raise NotFoundError(f"crawl {crawl_id} has no batch {number}")
        return self.batches[(crawl_id, number)][0]

    async def complete_batch(
        self, crawl_id: str, number: int, columns_by_ref: Mapping[str, int]
    ) -> Crawl:
        batch, done = self.batches[(crawl_id, number)]
        crawl = await self.get_crawl(crawl_id)
        if done:
            return crawl
        self.batches[(crawl_id, number)] = (batch, True)
        for ref in batch.refs:
            if ref in columns_by_ref:
                self.placed[crawl_id][ref][1:] = [columns_by_ref[ref], crawl.generation]
            else:  # dropped since the plan
                del self.placed[crawl_id][ref], self.relations[crawl_id][ref]
        tables, columns = len(columns_by_ref), sum(columns_by_ref.values())
        done = crawl.batches_done + 1
        last = crawl.state is CrawlState.RUNNING and done == crawl.batches_total
        crawl = self._update(
            crawl,
            batches_done=done,
            tables=crawl.tables + tables,
            columns=crawl.columns + columns,
            progressed_at=_now(),
            state=CrawlState.FINISHING if last else crawl.state,
            **_RETRY_CLEARED,
        )
        if last:
            self._enqueue(CRAWL_FINISHING, CrawlFinishing(crawl.id, crawl.database_id))
        return crawl

    async def superseded_refs(self, crawl_id: str) -> list[str]:
        await self.get_crawl(crawl_id)
        return self.superseded.get(crawl_id, [])

    async def complete_crawl(self, crawl_id: str) -> Crawl:
        crawl = await self.get_crawl(crawl_id)
        if crawl.state not in (CrawlState.FINISHING, CrawlState.HELD, CrawlState.COMPLETE):
            return crawl
        db = self.databases[crawl.database_id]
        was_complete = crawl.state is CrawlState.COMPLETE
        replanned = crawl.incremental and not was_complete
        if replanned and db.live_generation != crawl.planned_on:
            failed = await self.fail_crawl(crawl.id, "replanned", "the live catalog changed")
            await self.request_crawl(db.id, f"crawl-replanned-{len(self.crawls) + 1}")
            return failed
        crawl = self._update(
            crawl,
            state=CrawlState.COMPLETE,
            finished_at=crawl.finished_at or _now(),
            error_class=None,
            error_message=None,
        )
        db = self.databases[crawl.database_id]
        if db.live_generation is None or db.live_generation < crawl.generation:
            before = await self.live_crawl(db.id)
            self.databases[db.id] = dataclasses.replace(
                db,
                live_generation=crawl.generation,
                live_base=crawl.base_generation,
                index_lost_at=None,
            )
            if before is not None:
                self._record_changes(db.tenant_id, before, crawl)
        return self._ended(crawl, changed=not was_complete)

    def _record_changes(self, tenant_id: str, before: Crawl, crawl: Crawl) -> None:
        old, new = self.relations.get(before.id, {}), self.relations.get(crawl.id, {})
        found = []
        for ref in sorted(old.keys() | new.keys(), key=lambda r: _place(old.get(r) or new[r])):
            was, now = old.get(ref), new.get(ref)
            moved = was is not None and now is not None and _place(was) != _place(now)
            if was is not None and now is not None and not moved:
                unknown = was.fingerprint is None or now.fingerprint is None
                if unknown or was.fingerprint == now.fingerprint:
                    continue
            kind = (ChangeKind.ADDED if was is None else ChangeKind.DROPPED if now is None
                    else ChangeKind.RENAMED if moved else ChangeKind.ALTERED)  # fmt: skip
            where = now or was
            assert where is not None
            found.append(
                SchemaChange(
                    id=len(self.changes) + len(found) + 1,
                    database_id=crawl.database_id,
                    crawl_id=crawl.id,
                    generation=crawl.generation,
                    old_generation=(self.placed.get(before.id, {}).get(ref) or [0, 0, None])[2]
                    or before.generation,
                    changed_at=crawl.finished_at or _now(),
                    kind=kind,
                    schema=where.schema,
                    name=where.name,
                    old_schema=was.schema if moved and was else None,
                    old_name=was.name if moved and was else None,
                )
            )
        self.changes += found
        if found:
            event = SchemaChanged.of(tenant_id, crawl.id, crawl.generation, found)
            self._enqueue(schema_changed_subject(crawl.database_id), event)

    async def list_changes(
        self,
        database_id: str,
        since: datetime | None,
        after: int | None,
        limit: int,
        relation: tuple[str, str] | None = None,
    ) -> list[SchemaChange]:
        return [
            c
            for c in self.changes
            if c.database_id == database_id
            and (since is None or c.changed_at >= since)
            and (after is None or c.id > after)
            and (relation is None or relation in ((c.schema, c.name), (c.old_schema, c.old_name)))
        ][:limit]

    async def count_changes(self, crawl_id: str) -> int:
        return sum(1 for c in self.changes if c.crawl_id == crawl_id)

    async def changes_to_describe(self, crawl_id: str) -> list[SchemaChange]:
        return [
            c
            for c in self.changes
            if c.crawl_id == crawl_id
            and c.kind in (ChangeKind.ALTERED, ChangeKind.RENAMED)
            and c.detail is None
        ]

    async def describe_change(self, change_id: int, detail: dict[str, Any]) -> None:
        self.changes = [
            dataclasses.replace(c, detail=detail) if c.id == change_id else c for c in self.changes
        ]

    async def prune_changes(self, older_than: datetime) -> int:
        kept = [c for c in self.changes if c.changed_at >= older_than]
        gone, self.changes = len(self.changes) - len(kept), kept
        return gone

    async def note_retry(self, crawl_id: str, error_class: str, attempt: int, at: datetime) -> None:
        crawl = await self.get_crawl(crawl_id)
        if crawl.state in ACTIVE_CRAWL_STATES:
            attempts = max(crawl.retry_attempts, attempt)
            self._update(
                crawl,
                retry_attempts=attempts,
                retry_error_class=error_class,
                retry_at=at,
                progressed_at=_now(),
            )

    async def fail_crawl(self, crawl_id: str, error_class: str, message: str) -> Crawl:
        crawl = await self.get_crawl(crawl_id)
        if crawl.state in (CrawlState.COMPLETE, CrawlState.FAILED):
            return crawl
        return self._ended(
            self._update(
                crawl,
                state=CrawlState.FAILED,
                finished_at=_now(),
                error_class=error_class,
                error_message=message,
            )
        )

    async def fail_stalled_crawls(self, stalled_for: float) -> list[Crawl]:
        now = _now()
        stalled = [
            c
            for c in self.crawls.values()
            if c.state in (CrawlState.RUNNING, CrawlState.FINISHING)
            and c.progressed_at is not None
            and (now - c.progressed_at).total_seconds() > stalled_for
        ]
        return [
            await self.fail_crawl(c.id, "stalled", f"no progress for {stalled_for:.0f} s")
            for c in stalled
        ]

    async def live_documents(self) -> dict[str, int]:
        found = {}
        for db in self.databases.values():
            if (crawl := await self.live_crawl(db.id)) is not None:
                found[_live_scope(db)] = crawl.tables + crawl.columns
        return found

    async def mark_index_lost(self, scopes: Sequence[str]) -> list[Crawl]:
        crawls = []
        for text in scopes:
            scope = Scope.parse(text)
            db = self.databases.get(scope.database_id)
            if db is None or db.live_generation != scope.generation or db.index_lost_at:
                continue
            self.databases[db.id] = dataclasses.replace(db, index_lost_at=_now())
            lost = f"crawl-lost-{len(self.crawls) + 1}"
            crawls.append(await self.request_crawl(db.id, lost, full=True))
        return crawls

    async def live_crawl(self, database_id: str) -> Crawl | None:
        live = self.databases[database_id].live_generation
        return next(
            (
                c
                for c in self.crawls.values()
                if c.database_id == database_id and c.generation == live
            ),
            None,
        )

    async def hold_crawl(self, crawl_id: str, reason: str) -> Crawl:
        crawl = await self.get_crawl(crawl_id)
        if crawl.state is not CrawlState.FINISHING:
            return crawl
        return self._ended(
            self._update(
                crawl,
                state=CrawlState.HELD,
                finished_at=_now(),
                error_class="fail_safe",
                error_message=reason,
            )
        )

    async def confirm_crawl(self, crawl_id: str) -> Crawl:
        crawl = await self.get_crawl(crawl_id)
        if crawl.state is not CrawlState.HELD:
            raise ConflictError(f"crawl {crawl_id} is {crawl.state}, not held")
        if any(
            c.database_id == crawl.database_id
            and c.generation > crawl.generation
            and c.started_at is not None
            for c in self.crawls.values()
        ):
            raise ConflictError(f"a crawl came after crawl {crawl_id}")
        live = self.databases[crawl.database_id].live_generation
        if crawl.incremental and live != crawl.planned_on:
            raise ConflictError(f"crawl {crawl_id} was planned on a catalog no longer live")
        crawl = dataclasses.replace(crawl, confirmed_at=crawl.confirmed_at or _now())
        self.crawls[crawl_id] = crawl
        self._enqueue(CRAWL_CONFIRMED, CrawlConfirmed(crawl_id, crawl.database_id))
        return crawl

    async def add_dead_letter(
        self,
        subject: str,
        reason: str,
        crawl_id: str | None,
        stream_sequence: int | None,
        deliveries: int,
    ) -> None:
        key = (subject, crawl_id, stream_sequence, deliveries)
        if stream_sequence is not None and any(
            (d.subject, d.crawl_id, d.stream_sequence, d.deliveries) == key
            for d in self.dead_letters
        ):
            return
        self.dead_letters.append(
            DeadLetter(
                len(self.dead_letters) + 1,
                subject,
                reason,
                crawl_id,
                stream_sequence,
                deliveries,
                _now(),
            )
        )

    async def list_dead_letters(
        self, tenant_id: str | None, crawl_id: str | None, after: int | None, limit: int
    ) -> list[DeadLetter]:
        def tenant_of(letter: DeadLetter) -> str | None:
            crawl = self.crawls.get(letter.crawl_id or "")
            database = self.databases.get(crawl.database_id) if crawl else None
            return database.tenant_id if database else None

        return [
            d
            for d in self.dead_letters
            if (tenant_id is None or tenant_of(d) == tenant_id)
            and (crawl_id is None or d.crawl_id == crawl_id)
            and (after is None or d.id > after)
        ][:limit]

    def take_outbox(self, subject: str) -> list[Outgoing]:
        """The unsent outbox messages of `subject`, marked sent: as a relay would deliver them."""
        taken: list[Outgoing] = []
        for i, (message, sent) in enumerate(self.outbox):
            if not sent and message.subject == subject:
                if subject.startswith(SCHEMA_CHANGED):
                    taken.append(SchemaChanged(**message.payload))
                else:
                    taken.append(decode(subject, json.dumps(message.payload).encode()))
                self.outbox[i] = (message, True)
        return taken

    async def finish_crawls(self, handle: Callable[[Message], Awaitable[None]]) -> None:
        """Deliver the finishing messages of crawls whose batches are all done."""
        for message in self.take_outbox(CRAWL_FINISHING):
            assert not isinstance(message, SchemaChanged)
            await handle(message)

    async def outbox_backlog(self) -> int:
        return sum(1 for _, sent in self.outbox if not sent)

    async def relay_outbox(self, publish: Publish, limit: int) -> int:
        pending = [(i, m) for i, (m, sent) in enumerate(self.outbox) if not sent][:limit]
        for _, message in pending:
            await publish(message)
        for i, message in pending:
            self.outbox[i] = (message, True)
        return len(pending)


class InMemorySearchIndex:
    """Exact-part matching only: enough to test the handlers and routes, not relevance.

    Filters, the stable order, cursors and facets work as the port says.
    """

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}
        self.upserts = 0
        self.reads = 0  # searches and suggestions asked of the index
        # record_crawl: the last record of each crawl, as (state, tenant, changes).
        self.crawl_records: dict[str, tuple[CrawlState, str, int]] = {}

    async def open(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def ensure(self) -> bool:
        return False  # never lost, unless a test clears `documents`, which ensure cannot see

    async def documents_by_id(self, ids: Sequence[str]) -> list[Document]:
        return [self.documents[i] for i in ids if i in self.documents]

    async def document_counts(self, scopes: Sequence[str]) -> dict[str, int]:
        counts = {scope: len(self._in_scopes([scope])) for scope in scopes}
        return {scope: count for scope, count in counts.items() if count}

    def _in_scopes(self, scopes: Sequence[str]) -> list[Document]:
        seen = [Scope.parse(scope) for scope in scopes]
        return [
            doc
            for doc in self.documents.values()
            if any(
                s.database_id == doc.database_id and s.sees(doc.generation, doc.retired)
                for s in seen
            )
        ]

    async def crawl_started(self) -> None:
        return None  # every upsert is visible when it returns, as in tantivy

    async def crawl_ended(self) -> None:
        return None

    async def upsert(self, documents: Sequence[Document]) -> None:
        self.upserts += 1
        for doc in documents:
            self.documents[doc.id] = doc

    async def supersede(self, live: str, generation: int, refs: Sequence[str]) -> None:
        scope, replaced = Scope.parse(live), set(refs)
        for i, d in list(self.documents.items()):
            if d.database_id != scope.database_id:
                continue
            if scope.generation < d.generation < generation:  # left by a crawl that failed
                del self.documents[i]
            elif scope.base <= d.generation <= scope.generation and (
                d.ref in replaced or scope.generation < d.retired < NEVER_RETIRED
            ):
                retired = generation if d.ref in replaced else NEVER_RETIRED
                self.documents[i] = dataclasses.replace(d, retired=retired)

    async def delete_superseded(self, scope: str) -> None:
        seen = Scope.parse(scope)
        self.documents = {
            i: d
            for i, d in self.documents.items()
            if d.database_id != seen.database_id
            or (d.generation >= seen.base and d.retired > seen.generation)
        }

    async def record_crawl(self, crawl: Crawl, tenant_id: str, changes: int) -> None:
        self.crawl_records[crawl.id] = (crawl.state, tenant_id, changes)

    async def delete_database(self, database_id: str) -> None:
        self.documents = {i: d for i, d in self.documents.items() if d.database_id != database_id}

    def _visible(self, query: SearchQuery | SuggestQuery) -> list[Document]:
        filters, exclusions = query.keyword_filters(), query.keyword_exclusions()
        return [
            doc
            for doc in self._in_scopes(query.scopes)
            if all(getattr(doc, field) in values for field, values in filters)
            and not any(getattr(doc, field) in values for field, values in exclusions)
        ]

    async def search(self, query: SearchQuery) -> SearchPage:
        self.reads += 1
        wanted = set(identifier_parts(query.text))
        hits = [
            SearchHit(doc, float(len(wanted & set(doc.name_terms))))
            for doc in self._visible(query)
            if wanted & set(doc.name_terms)
        ]
        hits.sort(key=SearchHit.key)
        facets = {
            field: facet_counts(
                Counter(
                    str(value) for h in hits if (value := getattr(h.document, field)) is not None
                ).items()
            )
            for field in FACET_FIELDS
        }
        if query.after is not None:
            hits = [hit for hit in hits if hit.key() > query.after.key()]
        return SearchPage(hits[: query.limit], facets if query.facets else {})

    async def suggest(self, query: SuggestQuery) -> list[Suggestion]:
        """Names that start with the text, separators and case aside."""
        self.reads += 1
        typed = compact_name(query.text)
        names = Counter(
            doc.name for doc in self._visible(query) if compact_name(doc.name).startswith(typed)
        )
        return merge_suggestions([names.items()], query.limit) if typed else []

    async def tables_page(
        self, scope: str, after_ordinal: int | None, limit: int
    ) -> list[Document]:
        return self._tables(
            scope, lambda d: after_ordinal is None or d.ordinal > after_ordinal, limit
        )

    async def table(self, scope: str, schema: str, name: str) -> Document | None:
        found = self._tables(scope, lambda d: (d.schema, d.table) == (schema, name), 1)
        return found[0] if found else None

    async def tables_referencing(
        self, scope: str, schema: str, name: str, limit: int
    ) -> list[Document]:
        key = relation_key(schema, name)
        return self._tables(scope, lambda d: key in referenced_relations(d), limit)

    def _tables(self, scope: str, wanted: Callable[[Document], bool], limit: int) -> list[Document]:
        tables = [d for d in self._in_scopes([scope]) if d.kind is DocumentKind.TABLE and wanted(d)]
        return sorted(tables, key=lambda d: d.ordinal)[: max(limit, 0)]

    async def close(self) -> None:
        return None


class FakeCrawler:
    """A target database as a dict of ref → Table; a failure can be set to raise."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        self.failure: CrawlFailure | None = None
        self.passwords_seen: list[str] = []
        self.batches_read: list[tuple[str, ...]] = []
        self.fingerprints_asked: list[bool] = []  # one per listing

    def factory(self):  # -> CrawlerFactory
        @contextlib.asynccontextmanager
        async def open_crawler(target: Target, password: str) -> AsyncIterator[FakeCrawler]:
            self.passwords_seen.append(password)
            if self.failure is not None:
                raise self.failure
            yield self

        return open_crawler

    async def list_relations(self, fingerprints: bool = True) -> AsyncIterator[Relation]:
        self.fingerprints_asked.append(fingerprints)
        for ref in sorted(self.tables, key=lambda r: (self.tables[r].schema, self.tables[r].name)):
            table = self.tables[ref]
            # What the engines digest: the definition, not its row count or size.
            definition = dataclasses.replace(table, row_estimate=None, size_bytes=None)
            digest = hashlib.md5(repr(definition).encode()).hexdigest()
            yield Relation(ref, table.schema, table.name, digest if fingerprints else None)

    async def check_access(self) -> AccessReport:
        return AccessReport("15.2", (AccessCheck("connect", True, "connected"),))

    async def read_batch(self, refs: Sequence[str]) -> list[Table]:
        self.batches_read.append(tuple(refs))
        return [dataclasses.replace(self.tables[r], ref=r) for r in refs if r in self.tables]


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, str]] = []
        self.failing = False

    async def publish(self, subject: str, data: bytes, message_id: str) -> None:
        if self.failing:
            raise TransientError("NATS did not accept the message")
        self.published.append((subject, data, message_id))

    def batches(self) -> list[CrawlBatchRequested]:
        """The crawl batch messages published so far, in order."""
        return [
            CrawlBatchRequested(**json.loads(data))
            for subject, data, _ in self.published
            if subject == CRAWL_BATCH
        ]

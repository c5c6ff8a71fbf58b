"""The store on PostgreSQL through asyncpg. All of the store's SQL lives in this module."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import asyncpg

from catalog.cipher import Sealed
from catalog.crawl_plan import CrawlPlan, LiveCatalog, LiveRelation, PlannedRelation
from catalog.documents import Scope, generation_scope
from catalog.errors import (
    ConflictError,
    CrawlCapacityError,
    IndexLostError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from catalog.ids import new_id
from catalog.messages import (
    CRAWL_CONFIRMED,
    CRAWL_ENDED,
    CRAWL_FINISHING,
    CRAWL_REQUESTED,
    DATABASE_DELETED,
    CrawlConfirmed,
    CrawlEnded,
    CrawlFinishing,
    CrawlRequested,
    DatabaseDeleted,
    Outgoing,
    SchemaChanged,
    encode,
    schema_changed_subject,
)
from catalog.models import (
    ACTIVE_CRAWL_STATES,
    AuditEvent,
    Batch,
    ChangeKind,
    Crawl,
    CrawlState,
    Database,
    DeadLetter,
    Engine,
    SchemaChange,
    SslMode,
    Target,
    Tenant,
    TokenInfo,
)
from catalog.principal import Principal, Role
from catalog.store import OutboxMessage, Publish

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 7_461_002  # pg_advisory_xact_lock key: one migrator at a time
_CRAWL_COLUMNS = (
    "id, database_id, generation, state, requested_at, started_at, finished_at, batches_total,"
    " batches_done, tables, columns, error_class, error_message, confirmed_at, retry_attempts,"
    " retry_error_class, retry_at, queued_after, progressed_at, full_crawl AS full,"
    " base_generation, planned_on"
)
_DATABASE_COLUMNS = (
    "id, tenant_id, name, engine, host, port, dbname, username, sslmode, ca_cert, created_at,"
    " live_generation, index_lost_at, crawl_interval, next_crawl_at, live_base"
)
# A database's latest crawl: a follow-up still waiting for the crawl before it is not shown
# instead of that one (which is what runs); the request's own answer names it.
_LATEST_CRAWL = (
    f"SELECT {_CRAWL_COLUMNS} FROM crawls WHERE database_id = $1 AND queued_after IS NULL"
    " ORDER BY generation DESC LIMIT 1"
)
_ACTIVE_STATES = "(" + ", ".join(f"'{state}'" for state in ACTIVE_CRAWL_STATES) + ")"
# A scheduled crawl's interval (seconds, SQL) stretched by up to ±10%: many databases
# registered at once do not all come due at once.
_JITTERED = "make_interval(secs => {interval} * (0.9 + 0.2 * random()))"
_CHANGE_COLUMNS = (
    "id, database_id, crawl_id, generation, old_generation, changed_at, kind, schema_name, name,"
    " old_schema, old_name, detail"
)
# A crawl that moves on is no longer retrying.
_RETRY_CLEARED = "retry_attempts = 0, retry_error_class = NULL, retry_at = NULL"
_ACTIVE_CRAWLS = (
    "SELECT count(*) FROM crawls c JOIN databases d ON d.id = c.database_id"
    f" WHERE d.tenant_id = $1 AND c.state IN {_ACTIVE_STATES}"
)

# Errors that mean "the store is not there right now", as opposed to a bug in a query.
_UNAVAILABLE = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    TimeoutError,
)


def _database(row: asyncpg.Record) -> Database:
    return Database(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        target=Target(
            engine=Engine(row["engine"]),
            host=row["host"],
            port=row["port"],
            dbname=row["dbname"],
            user=row["username"],
            sslmode=SslMode(row["sslmode"]),
            ca_cert=row["ca_cert"],
        ),
        created_at=row["created_at"],
        live_generation=row["live_generation"],
        index_lost_at=row["index_lost_at"],
        crawl_interval=row["crawl_interval"],
        next_crawl_at=row["next_crawl_at"],
        live_base=row["live_base"],
    )


def _change(row: asyncpg.Record) -> SchemaChange:
    return SchemaChange(
        id=row["id"],
        database_id=row["database_id"],
        crawl_id=row["crawl_id"],
        generation=row["generation"],
        old_generation=row["old_generation"],
        changed_at=row["changed_at"],
        kind=ChangeKind(row["kind"]),
        schema=row["schema_name"],
        name=row["name"],
        old_schema=row["old_schema"],
        old_name=row["old_name"],
        detail=None if row["detail"] is None else json.loads(row["detail"]),
    )


def _planned(planned: PlannedRelation) -> tuple[str, str, str, str | None, int]:
    relation = planned.relation
    return relation.ref, relation.schema, relation.name, relation.fingerprint, planned.ordinal


def _without(row: asyncpg.Record, column: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != column}


def _crawl(row: asyncpg.Record | dict[str, Any]) -> Crawl:
    return Crawl(**{**dict(row), "state": CrawlState(row["state"])})


def _migrations() -> list[tuple[int, str]]:
    files = resources.files("catalog") / "migrations"
    found = []
    for entry in files.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


async def _rollback_if_open(conn: asyncpg.Connection) -> None:
    """What a connection needs before going back to the pool. asyncpg's default reset adds a
    round trip to every release (advisory unlocks, UNLISTEN, RESET ALL) for session state this
    store never sets (its one advisory lock is transaction-scoped); that doubled the gateway's
    store round trips per request."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class PgStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> PgStore:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                command_timeout=30,
                timeout=10,
                reset=_rollback_if_open,
            )
        except _UNAVAILABLE as exc:
            raise TransientError("the store is unreachable") from exc
        store = cls(pool)
        await store.migrate()
        return store

    async def close(self) -> None:
        await self._pool.close()

    async def migrate(self) -> None:
        async with self._transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {
                r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")
            }
            for version, sql in _migrations():
                if version not in applied:
                    log.info("applying store migration %03d", version)
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )

    @contextlib.asynccontextmanager
    async def _transaction(self, **options: Any) -> AsyncIterator[asyncpg.Connection]:
        """One connection in one transaction (asyncpg's `options`: isolation, readonly); "the
        store is not there" becomes TransientError."""
        try:
            async with self._pool.acquire() as conn, conn.transaction(**options):
                yield conn
        except _UNAVAILABLE as exc:
            raise TransientError("the store is unreachable") from exc

    @staticmethod
    async def _locked_crawl(conn: asyncpg.Connection, crawl_id: str) -> asyncpg.Record:
        """The crawl's row, locked for the rest of the caller's transaction."""
        row = await conn.fetchrow(
            f"SELECT {_CRAWL_COLUMNS} FROM crawls WHERE id = $1 FOR UPDATE", crawl_id
        )
        if row is None:
            raise NotFoundError(f"no crawl with id {crawl_id!r}")
        return row

    @staticmethod
    async def _enqueue(conn: asyncpg.Connection, subject: str, message: Outgoing) -> None:
        """Put a message in the outbox, in the caller's transaction: it leaves only on commit."""
        await conn.execute(
            "INSERT INTO outbox (subject, payload) VALUES ($1, $2::jsonb)",
            subject,
            encode(message).decode(),
        )

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        try:
            return await self._pool.fetchrow(query, *args)
        except _UNAVAILABLE as exc:
            raise TransientError("the store is unreachable") from exc

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        try:
            return await self._pool.fetch(query, *args)
        except _UNAVAILABLE as exc:
            raise TransientError("the store is unreachable") from exc

    async def ping(self) -> None:
        await self._fetchrow("SELECT 1")

    async def deployment_id(self) -> str:
        row = await self._fetchrow("SELECT id FROM deployment")
        if row is None:
            raise PermanentError("the store has no deployment id: its migrations did not run")
        return str(row["id"])

    # Tokens

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
        row = await self._fetchrow(
            "INSERT INTO api_tokens (id, token_hash, name, role, tenant_id, expires_at, bootstrap)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (token_hash) DO UPDATE SET role = EXCLUDED.role,"
            " tenant_id = EXCLUDED.tenant_id, expires_at = EXCLUDED.expires_at,"
            " bootstrap = EXCLUDED.bootstrap RETURNING id",
            new_id("tok"),
            token_hash,
            name,
            str(role),
            tenant_id,
            expires_at,
            bootstrap,
        )
        return str(row["id"])

    async def token_principal(self, token_hash: bytes) -> Principal | None:
        row = await self._fetchrow(
            "SELECT id, role, tenant_id FROM api_tokens WHERE token_hash = $1"
            " AND (expires_at IS NULL OR expires_at > now())",
            token_hash,
        )
        if row is None:
            return None
        return Principal(row["tenant_id"], Role(row["role"]), f"token:{row['id']}")

    async def list_tokens(self, tenant_id: str, after: str | None, limit: int) -> list[TokenInfo]:
        rows = await self._fetch(
            "SELECT id, name, role, tenant_id, created_at, expires_at, bootstrap FROM api_tokens"
            " WHERE tenant_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
            tenant_id,
            after,
            limit,
        )
        return [TokenInfo(**dict(r)) for r in rows]

    async def revoke_token(self, tenant_id: str, token_id: str) -> bool:
        row = await self._fetchrow(
            "DELETE FROM api_tokens WHERE tenant_id = $1 AND id = $2 RETURNING id",
            tenant_id,
            token_id,
        )
        return row is not None

    async def revoke_bootstrap_tokens(self, keep: bytes) -> int:
        rows = await self._fetch(
            "DELETE FROM api_tokens WHERE bootstrap AND token_hash <> $1 RETURNING id", keep
        )
        return len(rows)

    # Tenants

    async def add_tenant(self, tenant: Tenant) -> None:
        try:
            await self._fetchrow(
                "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)",
                tenant.id,
                tenant.name,
                tenant.created_at,
            )
        except asyncpg.UniqueViolationError:
            raise ConflictError(f"a tenant named {tenant.name!r} exists already") from None

    async def get_tenant(self, tenant_id: str) -> Tenant:
        row = await self._fetchrow(
            "SELECT id, name, created_at FROM tenants WHERE id = $1", tenant_id
        )
        if row is None:
            raise NotFoundError(f"no tenant with id {tenant_id!r}")
        return Tenant(**dict(row))

    async def list_tenants(self, after: str | None, limit: int) -> list[Tenant]:
        rows = await self._fetch(
            "SELECT id, name, created_at FROM tenants WHERE $1::text IS NULL OR id > $1"
            " ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [Tenant(**dict(r)) for r in rows]

    # Audit

    async def add_audit(
        self,
        tenant_id: str,
        actor: str,
        action: str,
        database_id: str | None,
        detail: dict[str, Any],
    ) -> None:
        await self._fetchrow(
            "INSERT INTO audit_events (tenant_id, actor, action, database_id, detail)"
            " VALUES ($1, $2, $3, $4, $5::jsonb)",
            tenant_id,
            actor,
            action,
            database_id,
            json.dumps(detail),
        )

    async def list_audit(self, tenant_id: str, after: int | None, limit: int) -> list[AuditEvent]:
        rows = await self._fetch(
            "SELECT id, at, tenant_id, actor, action, database_id, detail FROM audit_events"
            " WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id > $2) ORDER BY id LIMIT $3",
            tenant_id,
            after,
            limit,
        )
        return [AuditEvent(**{**dict(r), "detail": json.loads(r["detail"])}) for r in rows]

    # Databases

    async def add_database(
        self, database: Database, password: Sealed, crawl_id: str, max_active: int | None = None
    ) -> Crawl:
        t = database.target
        async with self._transaction() as conn:
            await self._check_capacity(conn, database.tenant_id, max_active)
            await conn.execute(
                "INSERT INTO databases (id, name, engine, host, port, dbname, username,"
                " password_key_id, password_ciphertext, created_at, sslmode, ca_cert,"
                " tenant_id, crawl_interval, next_crawl_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                f" $8, $9, $10, $11, $12, $13, $14::integer,"
                f" now() + {_JITTERED.format(interval='$14::integer')})",
                database.id,
                database.name,
                str(t.engine),
                t.host,
                t.port,
                t.dbname,
                t.user,
                password.key_id,
                password.blob,
                database.created_at,
                str(t.sslmode),
                t.ca_cert,
                database.tenant_id,
                database.crawl_interval,
            )
            return await self._queue_crawl(conn, database.id, crawl_id, generation=1)

    @staticmethod
    async def _check_capacity(
        conn: asyncpg.Connection, tenant_id: str, max_active: int | None
    ) -> None:
        """Refuse a new crawl past the tenant's limit. The tenant's row lock makes concurrent
        registrations and re-crawls count one after the other, so none slips past the limit."""
        if max_active is None:
            return
        await conn.execute("SELECT id FROM tenants WHERE id = $1 FOR UPDATE", tenant_id)
        if await conn.fetchval(_ACTIVE_CRAWLS, tenant_id) >= max_active:
            raise CrawlCapacityError(max_active)

    async def _queue_crawl(
        self,
        conn: asyncpg.Connection,
        database_id: str,
        crawl_id: str,
        generation: int,
        after: str | None = None,
        full: bool = False,
    ) -> Crawl:
        """Insert a queued crawl; its request goes out now, or when the crawl `after` ends."""
        row = await conn.fetchrow(
            "INSERT INTO crawls (id, database_id, generation, state, queued_after, full_crawl)"
            f" VALUES ($1, $2, $3, 'queued', $4, $5) RETURNING {_CRAWL_COLUMNS}",
            crawl_id,
            database_id,
            generation,
            after,
            full,
        )
        if after is None:
            await self._enqueue(conn, CRAWL_REQUESTED, CrawlRequested(crawl_id, database_id))
        return _crawl(row)

    async def _request_crawl(
        self,
        conn: asyncpg.Connection,
        database_id: str,
        crawl_id: str,
        tenant_id: str,
        max_active: int | None,
        full: bool = False,
    ) -> Crawl:
        """The crawl that will carry a request made now (the caller holds the database's row
        lock): the queued one, which is planned after the request anyway; or else a new one,
        which waits for a crawl planned before the request, if there is one."""
        active = await conn.fetchrow(
            f"SELECT {_CRAWL_COLUMNS} FROM crawls WHERE database_id = $1"
            f" AND state IN {_ACTIVE_STATES} ORDER BY generation DESC LIMIT 1",
            database_id,
        )
        if active is not None and active["state"] == CrawlState.QUEUED:
            if full and not active["full"]:
                active = await conn.fetchrow(
                    f"UPDATE crawls SET full_crawl = true WHERE id = $1 RETURNING {_CRAWL_COLUMNS}",
                    active["id"],
                )
            return _crawl(active)
        await self._check_capacity(conn, tenant_id, max_active)
        generation = await conn.fetchval(
            "SELECT coalesce(max(generation), 0) + 1 FROM crawls WHERE database_id = $1",
            database_id,
        )
        after = None if active is None else active["id"]
        return await self._queue_crawl(conn, database_id, crawl_id, generation, after, full)

    async def _crawl_ended(
        self, conn: asyncpg.Connection, row: asyncpg.Record, *, changed: bool = True
    ) -> Crawl:
        """A crawl left the active states: say so (CrawlEnded) if its state did change, and
        release the follow-up that waited for it."""
        if changed:
            await self._enqueue(conn, CRAWL_ENDED, CrawlEnded(row["id"], row["database_id"]))
        waiting = await conn.fetch(
            "UPDATE crawls SET queued_after = NULL WHERE queued_after = $1"
            " RETURNING id, database_id",
            row["id"],
        )
        for follow_up in waiting:
            await self._enqueue(
                conn, CRAWL_REQUESTED, CrawlRequested(follow_up["id"], follow_up["database_id"])
            )
        return _crawl(row)

    async def get_database(self, database_id: str) -> Database:
        row = await self._fetchrow(
            f"SELECT {_DATABASE_COLUMNS} FROM databases WHERE id = $1", database_id
        )
        if row is None:
            raise NotFoundError(f"no database with id {database_id!r}")
        return _database(row)

    async def list_databases(self, tenant_id: str, after: str | None, limit: int) -> list[Database]:
        rows = await self._fetch(
            f"SELECT {_DATABASE_COLUMNS} FROM databases"
            " WHERE tenant_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
            tenant_id,
            after,
            limit,
        )
        return [_database(r) for r in rows]

    async def sealed_password(self, database_id: str) -> Sealed:
        row = await self._fetchrow(
            "SELECT password_key_id, password_ciphertext FROM databases WHERE id = $1",
            database_id,
        )
        if row is None:
            raise NotFoundError(f"no database with id {database_id!r}")
        return Sealed(row["password_key_id"], bytes(row["password_ciphertext"]))

    async def sealed_passwords(self, after: str | None, limit: int) -> list[tuple[str, Sealed]]:
        rows = await self._fetch(
            "SELECT id, password_key_id, password_ciphertext FROM databases"
            " WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [
            (r["id"], Sealed(r["password_key_id"], bytes(r["password_ciphertext"]))) for r in rows
        ]

    async def sealed_password_per_key(self) -> list[tuple[str, Sealed]]:
        rows = await self._fetch(
            "SELECT DISTINCT ON (password_key_id) id, password_key_id, password_ciphertext"
            " FROM databases ORDER BY password_key_id, id"
        )
        return [
            (r["id"], Sealed(r["password_key_id"], bytes(r["password_ciphertext"]))) for r in rows
        ]

    async def reseal_password(self, database_id: str, old: Sealed, new: Sealed) -> bool:
        row = await self._fetchrow(
            "UPDATE databases SET password_key_id = $4, password_ciphertext = $5"
            " WHERE id = $1 AND password_key_id = $2 AND password_ciphertext = $3 RETURNING id",
            database_id,
            old.key_id,
            old.blob,
            new.key_id,
            new.blob,
        )
        return row is not None

    async def live_scopes(self, tenant_id: str, database_ids: Sequence[str] | None) -> list[str]:
        rows = await self._fetch(
            "SELECT id, live_generation, live_base, index_lost_at FROM databases"
            " WHERE tenant_id = $1 AND live_generation IS NOT NULL"
            " AND ($2::text[] IS NULL OR id = ANY($2))",
            tenant_id,
            None if database_ids is None else list(database_ids),
        )
        if lost := [r["id"] for r in rows if r["index_lost_at"] is not None]:
            raise IndexLostError.for_databases(lost)
        return [generation_scope(r["id"], r["live_generation"], r["live_base"]) for r in rows]

    # Crawls

    async def request_crawl(
        self, database_id: str, crawl_id: str, max_active: int | None = None, full: bool = False
    ) -> Crawl:
        async with self._transaction() as conn:
            # The row lock serialises concurrent requests for one database.
            locked = await conn.fetchrow(
                "SELECT id, tenant_id FROM databases WHERE id = $1 FOR UPDATE", database_id
            )
            if locked is None:
                raise NotFoundError(f"no database with id {database_id!r}")
            return await self._request_crawl(
                conn, database_id, crawl_id, locked["tenant_id"], max_active, full
            )

    async def get_crawl(self, crawl_id: str) -> Crawl:
        row = await self._fetchrow(f"SELECT {_CRAWL_COLUMNS} FROM crawls WHERE id = $1", crawl_id)
        if row is None:
            raise NotFoundError(f"no crawl with id {crawl_id!r}")
        return _crawl(row)

    async def database_status(self, database_id: str) -> tuple[Database, Crawl | None]:
        # One snapshot: read apart, a crawl completing between the reads showed as complete
        # beside the database's previous live generation.
        async with self._transaction(isolation="repeatable_read", readonly=True) as conn:
            database = await conn.fetchrow(
                f"SELECT {_DATABASE_COLUMNS} FROM databases WHERE id = $1", database_id
            )
            crawl = await conn.fetchrow(_LATEST_CRAWL, database_id)
        if database is None:
            raise NotFoundError(f"no database with id {database_id!r}")
        return _database(database), None if crawl is None else _crawl(crawl)

    async def latest_crawl(self, database_id: str) -> Crawl | None:
        row = await self._fetchrow(_LATEST_CRAWL, database_id)
        return None if row is None else _crawl(row)

    async def latest_crawls(self, database_ids: Sequence[str]) -> dict[str, Crawl]:
        rows = await self._fetch(
            f"SELECT DISTINCT ON (database_id) {_CRAWL_COLUMNS} FROM crawls"
            " WHERE database_id = ANY($1::text[]) AND queued_after IS NULL"
            " ORDER BY database_id, generation DESC",
            list(database_ids),
        )
        return {r["database_id"]: _crawl(r) for r in rows}

    async def update_database(self, database: Database, password: Sealed | None) -> None:
        t = database.target
        await self._fetchrow(
            "UPDATE databases SET name = $2, host = $3, port = $4, dbname = $5, username = $6,"
            " sslmode = $7, ca_cert = $8,"
            " password_key_id = coalesce($9, password_key_id),"
            " password_ciphertext = coalesce($10, password_ciphertext),"
            # A new interval counts from now; the same one keeps the next crawl where it was.
            " next_crawl_at = CASE WHEN crawl_interval IS NOT DISTINCT FROM $11::integer"
            f"  THEN next_crawl_at ELSE now() + {_JITTERED.format(interval='$11::integer')} END,"
            " crawl_interval = $11::integer WHERE id = $1",
            database.id,
            database.name,
            t.host,
            t.port,
            t.dbname,
            t.user,
            str(t.sslmode),
            t.ca_cert,
            None if password is None else password.key_id,
            None if password is None else password.blob,
            database.crawl_interval,
        )

    async def start_due_crawls(self, limit: int) -> list[Crawl]:
        async with self._transaction() as conn:
            # SKIP LOCKED: indexers that look at once share the due databases, never both
            # starting one; moving next_crawl_at in the same transaction starts it once.
            due = await conn.fetch(
                "SELECT id, tenant_id FROM databases WHERE next_crawl_at <= now()"
                " ORDER BY next_crawl_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                limit,
            )
            started = []
            for row in due:
                await conn.execute(
                    "UPDATE databases SET next_crawl_at = now()"
                    f" + {_JITTERED.format(interval='crawl_interval')} WHERE id = $1",
                    row["id"],
                )
                active = await conn.fetchval(
                    f"SELECT 1 FROM crawls WHERE database_id = $1 AND state IN {_ACTIVE_STATES}",
                    row["id"],
                )
                if active is None:  # else the crawl under way serves the schedule
                    started.append(
                        await self._request_crawl(
                            conn, row["id"], new_id("crawl"), row["tenant_id"], None
                        )
                    )
            return started

    async def delete_database(self, database_id: str) -> None:
        async with self._transaction() as conn:
            # Not cascaded: crawl_relations has no foreign key (migration 013 says why).
            await conn.execute(
                "DELETE FROM crawl_relations WHERE crawl_id IN"
                " (SELECT id FROM crawls WHERE database_id = $1)",
                database_id,
            )
            deleted = await conn.fetchval(
                "DELETE FROM databases WHERE id = $1 RETURNING id", database_id
            )
            if deleted is None:
                raise NotFoundError(f"no database with id {database_id!r}")
            await self._enqueue(conn, DATABASE_DELETED, DatabaseDeleted(database_id))

    async def live_relations(self, database_id: str) -> LiveCatalog | None:
        async with self._transaction(isolation="repeatable_read", readonly=True) as conn:
            live = await conn.fetchrow(
                "SELECT c.id, c.generation, b.finished_at FROM databases d"
                " JOIN crawls c ON c.database_id = d.id AND c.generation = d.live_generation"
                " JOIN crawls b ON b.database_id = d.id AND b.generation = d.live_base"
                " WHERE d.id = $1",
                database_id,
            )
            if live is None:
                return None
            rows = await conn.fetch(
                "SELECT ref, schema_name, name, fingerprint, ordinal FROM crawl_relations"
                " WHERE crawl_id = $1",
                live["id"],
            )
        if not rows or any(row["fingerprint"] is None or row["ordinal"] is None for row in rows):
            return None  # recorded before fingerprints and ordinals were kept
        relations = [LiveRelation(*row) for row in rows]
        return LiveCatalog(live["generation"], relations, live["finished_at"])

    async def start_crawl(self, crawl_id: str, plan: CrawlPlan) -> Crawl:
        async with self._transaction() as conn:
            row = await self._locked_crawl(conn, crawl_id)
            if row["state"] != CrawlState.QUEUED:
                return _crawl(row)
            # No lock on the database: publishing holds it for a while, and a crawl published
            # after this read fails this one at its own publication (`replanned`) anyway.
            database = await conn.fetchrow(
                "SELECT live_generation, live_base FROM databases WHERE id = $1",
                row["database_id"],
            )
            base, kept = row["generation"], (0, 0)
            if not plan.full:
                if database["live_generation"] != plan.planned_on:
                    raise TransientError(
                        f"crawl {crawl_id}: another crawl was published while it was planned;"
                        " planning it again"
                    )
                base, kept = database["live_base"], await self._keep(conn, crawl_id, plan)
            # A relation read gets its column count with its batch (complete_batch); this
            # crawl's generation writes its documents.
            await conn.copy_records_to_table(
                "crawl_relations",
                records=[(crawl_id, *_planned(p)) for p in plan.reads],
                columns=["crawl_id", "ref", "schema_name", "name", "fingerprint", "ordinal"],
            )
            await conn.copy_records_to_table(
                "crawl_batches",
                records=[
                    (crawl_id, number, list(batch.refs), list(batch.ordinals))
                    for number, batch in enumerate(plan.batches)
                ],
                columns=["crawl_id", "number", "refs", "ordinals"],
            )
            state = CrawlState.RUNNING if plan.batches else CrawlState.FINISHING
            row = await conn.fetchrow(
                "UPDATE crawls SET state = $3, started_at = now(), progressed_at = now(),"
                f" batches_total = $2, {_RETRY_CLEARED}, base_generation = $4, planned_on = $5,"
                " superseded = $6, tables = $7, columns = $8 WHERE id = $1"
                f" RETURNING {_CRAWL_COLUMNS}",
                crawl_id,
                len(plan.batches),
                str(state),
                base,
                database["live_generation"],
                list(plan.replaced),
                *kept,
            )
            if not plan.batches:
                await self._enqueue_finishing(conn, row)
            return _crawl(row)

    @staticmethod
    async def _keep(conn: asyncpg.Connection, crawl_id: str, plan: CrawlPlan) -> tuple[int, int]:
        """Copy the live relations an incremental crawl keeps into its own, inside the store
        (100,000 rows need not travel); how many tables and columns they are. A relation the
        live crawl read has its column count in that crawl's batches, and that generation
        wrote its documents."""
        kept = await conn.fetchrow(
            "WITH live AS (SELECT c.id, c.generation FROM crawls c WHERE c.generation = $2"
            "   AND c.database_id = (SELECT database_id FROM crawls WHERE id = $1)),"
            " read AS (SELECT unnest(b.read_refs) AS ref, unnest(b.read_columns) AS columns"
            "   FROM crawl_batches b JOIN live ON b.crawl_id = live.id),"
            " kept AS ("
            "  INSERT INTO crawl_relations"
            "   (crawl_id, ref, schema_name, name, fingerprint, ordinal, columns, written_in)"
            "  SELECT $1, r.ref, r.schema_name, r.name, r.fingerprint, r.ordinal,"
            "   coalesce(r.columns, read.columns), coalesce(r.written_in, live.generation)"
            "  FROM live JOIN crawl_relations r ON r.crawl_id = live.id"
            "  LEFT JOIN read ON read.ref = r.ref"
            "  WHERE NOT r.ref = ANY($3::text[])"
            "  RETURNING columns)"
            " SELECT count(*) AS tables, coalesce(sum(columns), 0) AS columns FROM kept",
            crawl_id,
            plan.planned_on,
            list(plan.replaced),
        )
        return kept["tables"], kept["columns"]

    async def _enqueue_finishing(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        await self._enqueue(conn, CRAWL_FINISHING, CrawlFinishing(row["id"], row["database_id"]))

    async def get_batch(self, crawl_id: str, number: int) -> Batch:
        row = await self._fetchrow(
            "SELECT refs, ordinals FROM crawl_batches WHERE crawl_id = $1 AND number = $2",
            crawl_id,
            number,
        )
        if row is None:
            raise NotFoundError(f"crawl {crawl_id} has no batch {number}")
        return Batch(crawl_id, number, tuple(row["refs"]), tuple(row["ordinals"]))

    async def complete_batch(
        self, crawl_id: str, number: int, columns_by_ref: Mapping[str, int]
    ) -> Crawl:
        async with self._transaction() as conn:
            # What each relation read had is kept with the batch, not row by row: 500 row
            # updates a batch were a tenth of a first crawl's store time.
            row = await conn.fetchrow(
                "WITH done AS ("
                "  UPDATE crawl_batches SET done = true, read_refs = $5, read_columns = $6"
                "  WHERE crawl_id = $1 AND number = $2 AND NOT done"
                "  RETURNING crawl_id, cardinality(refs) AS planned)"
                " UPDATE crawls SET batches_done = batches_done + 1,"
                f"  tables = tables + $3, columns = columns + $4, {_RETRY_CLEARED},"
                "  progressed_at = now(),"
                "  state = CASE WHEN state = 'running' AND batches_done + 1 = batches_total"
                "    THEN 'finishing' ELSE state END"
                " WHERE id IN (SELECT crawl_id FROM done)"
                f" RETURNING {_CRAWL_COLUMNS}, (SELECT planned FROM done)",
                crawl_id,
                number,
                len(columns_by_ref),
                sum(columns_by_ref.values()),
                list(columns_by_ref),
                list(columns_by_ref.values()),
            )
            if row is None:  # done before: nothing changed
                return _crawl(await self._locked_crawl(conn, crawl_id))
            if row["planned"] > len(columns_by_ref):
                # Dropped between the plan and the read: not part of this crawl.
                await conn.execute(
                    "DELETE FROM crawl_relations r USING crawl_batches b"
                    " WHERE b.crawl_id = $1 AND b.number = $2 AND r.crawl_id = $1"
                    " AND r.ref = ANY(b.refs) AND NOT r.ref = ANY(b.read_refs)",
                    crawl_id,
                    number,
                )
            row = _without(row, "planned")
            if row["state"] == CrawlState.FINISHING and row["batches_done"] == row["batches_total"]:
                # This call did the last batch: the crawl's finishing step goes out once, with it.
                await self._enqueue_finishing(conn, row)
            return _crawl(row)

    async def superseded_refs(self, crawl_id: str) -> list[str]:
        row = await self._fetchrow("SELECT superseded FROM crawls WHERE id = $1", crawl_id)
        if row is None:
            raise NotFoundError(f"no crawl with id {crawl_id!r}")
        return list(row["superseded"] or ())

    async def complete_crawl(self, crawl_id: str) -> Crawl:
        async with self._transaction() as conn:
            row = await self._locked_crawl(conn, crawl_id)
            if row["state"] not in ("finishing", "held", "complete"):
                return _crawl(row)
            database = await conn.fetchrow(
                "SELECT tenant_id, live_generation FROM databases WHERE id = $1 FOR UPDATE",
                row["database_id"],
            )
            live = database["live_generation"]
            crawl = _crawl(row)
            if (
                crawl.incremental
                and crawl.state is not CrawlState.COMPLETE
                and live != crawl.planned_on
            ):
                return await self._replanned(conn, row, database["tenant_id"])
            was_complete = row["state"] == "complete"  # published before: asked again
            row = await conn.fetchrow(
                "UPDATE crawls SET state = 'complete', finished_at = coalesce(finished_at, now()),"
                # A confirmed crawl's fail-safe message is no error once it is published.
                " error_class = NULL, error_message = NULL"
                f" WHERE id = $1 RETURNING {_CRAWL_COLUMNS}",
                crawl_id,
            )
            if live is None or live < row["generation"]:
                # Readers switch to it, and its documents, just checked whole, are not lost.
                await conn.execute(
                    "UPDATE databases SET live_generation = $2, live_base = $3,"
                    " index_lost_at = NULL WHERE id = $1",
                    row["database_id"],
                    row["generation"],
                    row["base_generation"],
                )
                await self._record_changes(conn, row, database["tenant_id"], live)
            return await self._crawl_ended(conn, row, changed=not was_complete)

    async def _replanned(
        self, conn: asyncpg.Connection, row: asyncpg.Record, tenant_id: str
    ) -> Crawl:
        """Fail an incremental crawl whose live generation changed under it (another crawl was
        published meanwhile: its plan compared with the wrong one), and ask for another."""
        row = await conn.fetchrow(
            "UPDATE crawls SET state = 'failed', finished_at = now(), error_class = 'replanned',"
            " error_message = $2 WHERE id = $1"
            f" RETURNING {_CRAWL_COLUMNS}",
            row["id"],
            "another crawl was published while this one ran, so what it compared with is no"
            " longer live; a new crawl was requested in its place",
        )
        ended = await self._crawl_ended(conn, row)
        await self._request_crawl(conn, row["database_id"], new_id("crawl"), tenant_id, None)
        return ended

    async def _record_changes(
        self, conn: asyncpg.Connection, crawl: asyncpg.Record, tenant_id: str, before: int | None
    ) -> None:
        """What the crawl found changed since the live one, by relation fingerprints: kept in
        the history and announced once (outbox). The first crawl is the baseline: no changes.
        Then only the new live crawl's relations are kept."""
        database_id = crawl["database_id"]
        if before is not None:
            changes = await conn.fetch(
                "INSERT INTO schema_changes (database_id, crawl_id, generation, old_generation,"
                "  changed_at, kind, schema_name, name, old_schema, old_name)"
                # Renamed and altered: the generation that wrote the documents it replaces.
                " SELECT $1, $2, $3, coalesce(o.written_in, $5), $4,"
                "  CASE WHEN o.ref IS NULL THEN 'added' WHEN n.ref IS NULL THEN 'dropped'"
                "       WHEN moved THEN 'renamed' ELSE 'altered' END,"
                "  coalesce(n.schema_name, o.schema_name), coalesce(n.name, o.name),"
                "  CASE WHEN moved THEN o.schema_name END, CASE WHEN moved THEN o.name END"
                " FROM (SELECT * FROM crawl_relations WHERE crawl_id = $2) n"
                " FULL JOIN (SELECT r.* FROM crawl_relations r JOIN crawls c ON c.id = r.crawl_id"
                "            WHERE c.database_id = $1 AND c.generation = $5) o ON o.ref = n.ref"
                # The same relation (ref) under another name. NULL when one side is missing.
                " CROSS JOIN LATERAL (SELECT (o.schema_name, o.name) <> (n.schema_name, n.name)"
                "                     AS moved) m"
                # Unknown fingerprints (the first crawl computes none) tell no alteration.
                " WHERE o.ref IS NULL OR n.ref IS NULL OR o.fingerprint <> n.fingerprint OR moved"
                " ORDER BY coalesce(n.schema_name, o.schema_name), coalesce(n.name, o.name)"
                f" RETURNING {_CHANGE_COLUMNS}",
                database_id,
                crawl["id"],
                crawl["generation"],
                crawl["finished_at"],
                before,
            )
            if changes:
                event = SchemaChanged.of(tenant_id, crawl["id"], crawl["generation"],
                                         [_change(c) for c in changes])  # fmt: skip
                await self._enqueue(conn, schema_changed_subject(database_id), event)
        await conn.execute(
            "DELETE FROM crawl_relations r USING crawls c WHERE c.id = r.crawl_id"
            " AND c.database_id = $1 AND c.generation < $2",
            database_id,
            crawl["generation"],
        )

    async def count_changes(self, crawl_id: str) -> int:
        row = await self._fetchrow(
            "SELECT count(*) AS n FROM schema_changes WHERE crawl_id = $1", crawl_id
        )
        return int(row["n"]) if row else 0

    async def list_changes(
        self,
        database_id: str,
        since: datetime | None,
        after: int | None,
        limit: int,
        relation: tuple[str, str] | None = None,
    ) -> list[SchemaChange]:
        schema, name = relation or (None, None)
        rows = await self._fetch(
            f"SELECT {_CHANGE_COLUMNS} FROM schema_changes WHERE database_id = $1"
            " AND ($2::timestamptz IS NULL OR changed_at >= $2)"
            " AND ($3::bigint IS NULL OR id > $3)"
            " AND ($5::text IS NULL OR (schema_name = $5 AND name = $6)"
            " OR (old_schema = $5 AND old_name = $6)) ORDER BY id LIMIT $4",
            database_id,
            since,
            after,
            limit,
            schema,
            name,
        )
        return [_change(row) for row in rows]

    async def changes_to_describe(self, crawl_id: str) -> list[SchemaChange]:
        rows = await self._fetch(
            f"SELECT {_CHANGE_COLUMNS} FROM schema_changes WHERE crawl_id = $1"
            " AND kind IN ('altered', 'renamed') AND detail IS NULL ORDER BY id",
            crawl_id,
        )
        return [_change(row) for row in rows]

    async def describe_change(self, change_id: int, detail: dict[str, Any]) -> None:
        await self._fetchrow(
            "UPDATE schema_changes SET detail = $2::jsonb WHERE id = $1 RETURNING id",
            change_id,
            json.dumps(detail),
        )

    async def prune_changes(self, older_than: datetime) -> int:
        row = await self._fetchrow(
            "WITH gone AS (DELETE FROM schema_changes WHERE changed_at < $1 RETURNING 1)"
            " SELECT count(*) AS n FROM gone",
            older_than,
        )
        return 0 if row is None else row["n"]

    async def fail_crawl(self, crawl_id: str, error_class: str, message: str) -> Crawl:
        # A failed crawl stays failed with its first cause: failing it again changes nothing.
        return await self._end_crawl(
            crawl_id, CrawlState.FAILED, error_class, message, "state NOT IN ('complete', 'failed')"
        )

    async def _end_crawl(
        self, crawl_id: str, state: CrawlState, error_class: str, message: str, only_if: str
    ) -> Crawl:
        """End a crawl that meets `only_if` (SQL) with an error, and release the follow-up that
        waited for it; a crawl that does not is returned as it is."""
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                "UPDATE crawls SET state = $2, finished_at = now(), error_class = $3,"
                f" error_message = $4 WHERE id = $1 AND {only_if} RETURNING {_CRAWL_COLUMNS}",
                crawl_id,
                str(state),
                error_class,
                message,
            )
            if row is None:
                return _crawl(await self._locked_crawl(conn, crawl_id))
            return await self._crawl_ended(conn, row)

    async def fail_stalled_crawls(self, stalled_for: float) -> list[Crawl]:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "UPDATE crawls SET state = 'failed', finished_at = now(), error_class = 'stalled',"
                " error_message = $2"
                " WHERE state IN ('running', 'finishing')"
                " AND progressed_at < now() - make_interval(secs => $1)"
                f" RETURNING {_CRAWL_COLUMNS}",
                stalled_for,
                f"no batch finished and no retry was noted for {stalled_for:.0f} s; its messages"
                " are lost or out of attempts (see GET /v1/dead-letters): re-crawl",
            )
            return [await self._crawl_ended(conn, row) for row in rows]

    async def live_documents(self) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT d.id, d.live_generation, d.live_base, c.tables + c.columns AS documents"
            " FROM databases d JOIN crawls c"
            " ON c.database_id = d.id AND c.generation = d.live_generation"
        )
        return {
            generation_scope(r["id"], r["live_generation"], r["live_base"]): r["documents"]
            for r in rows
        }

    async def mark_index_lost(self, scopes: Sequence[str]) -> list[Crawl]:
        crawls = []
        async with self._transaction() as conn:
            for text in scopes:
                scope = Scope.parse(text)
                # Only while that generation is live: a crawl may have replaced it since.
                row = await conn.fetchrow(
                    "SELECT tenant_id, index_lost_at FROM databases"
                    " WHERE id = $1 AND live_generation = $2 FOR UPDATE",
                    scope.database_id,
                    scope.generation,
                )
                if row is None or row["index_lost_at"] is not None:
                    continue  # replaced, or known lost (and its re-crawl requested) already
                await conn.execute(
                    "UPDATE databases SET index_lost_at = now() WHERE id = $1", scope.database_id
                )
                # Full: the documents it would keep are the ones lost.
                crawls.append(
                    await self._request_crawl(
                        conn, scope.database_id, new_id("crawl"), row["tenant_id"], None, True
                    )
                )
        return crawls

    async def live_crawl(self, database_id: str) -> Crawl | None:
        row = await self._fetchrow(
            f"SELECT {_CRAWL_COLUMNS} FROM crawls c WHERE c.database_id = $1 AND c.generation ="
            " (SELECT live_generation FROM databases WHERE id = $1)",
            database_id,
        )
        return None if row is None else _crawl(row)

    async def hold_crawl(self, crawl_id: str, reason: str) -> Crawl:
        return await self._end_crawl(
            crawl_id, CrawlState.HELD, "fail_safe", reason, "state = 'finishing'"
        )

    async def note_retry(self, crawl_id: str, error_class: str, attempt: int, at: datetime) -> None:
        await self._fetchrow(
            "UPDATE crawls SET retry_attempts = greatest(retry_attempts, $2),"
            " retry_error_class = $3, retry_at = $4, progressed_at = now()"
            f" WHERE id = $1 AND state IN {_ACTIVE_STATES} RETURNING id",
            crawl_id,
            attempt,
            error_class,
            at,
        )

    async def confirm_crawl(self, crawl_id: str) -> Crawl:
        async with self._transaction() as conn:
            row = await self._locked_crawl(conn, crawl_id)
            if row["state"] != CrawlState.HELD:
                raise ConflictError(f"crawl {crawl_id} is {row['state']}, not held")
            newer = await conn.fetchval(
                "SELECT id FROM crawls WHERE database_id = $1 AND generation > $2"
                f" AND (state IN {_ACTIVE_STATES} OR state = 'complete') LIMIT 1",
                row["database_id"],
                row["generation"],
            )
            if newer is not None:
                raise ConflictError(
                    f"crawl {newer} of this database came after crawl {crawl_id}: confirm that"
                    " one if it is held, or re-crawl"
                )
            live = await conn.fetchval(
                "SELECT live_generation FROM databases WHERE id = $1", row["database_id"]
            )
            if _crawl(row).incremental and live != row["planned_on"]:
                raise ConflictError(
                    f"crawl {crawl_id} only read what changed since a catalog that is no longer"
                    " live: re-crawl instead"
                )
            row = await conn.fetchrow(
                "UPDATE crawls SET confirmed_at = coalesce(confirmed_at, now()) WHERE id = $1"
                f" RETURNING {_CRAWL_COLUMNS}",
                crawl_id,
            )
            await self._enqueue(conn, CRAWL_CONFIRMED, CrawlConfirmed(crawl_id, row["database_id"]))
            return _crawl(row)

    # Dead letters

    async def add_dead_letter(
        self,
        subject: str,
        reason: str,
        crawl_id: str | None,
        stream_sequence: int | None,
        deliveries: int,
    ) -> None:
        # JetStream may report a message out of deliveries twice (two advisories): one letter.
        await self._fetchrow(
            "INSERT INTO dead_letters (subject, reason, crawl_id, stream_sequence, deliveries)"
            " SELECT $1, $2, $3, $4, $5 WHERE $4::bigint IS NULL OR NOT EXISTS ("
            "  SELECT 1 FROM dead_letters WHERE stream_sequence = $4 AND subject = $1"
            "  AND crawl_id IS NOT DISTINCT FROM $3 AND deliveries = $5"
            "  AND created_at > now() - interval '1 hour')",
            subject,
            reason,
            crawl_id,
            stream_sequence,
            deliveries,
        )

    async def list_dead_letters(
        self, tenant_id: str | None, crawl_id: str | None, after: int | None, limit: int
    ) -> list[DeadLetter]:
        rows = await self._fetch(
            "SELECT l.id, l.subject, l.reason, l.crawl_id, l.stream_sequence, l.deliveries,"
            " l.created_at FROM dead_letters l"
            " LEFT JOIN crawls c ON c.id = l.crawl_id"
            " LEFT JOIN databases d ON d.id = c.database_id"
            " WHERE ($1::text IS NULL OR d.tenant_id = $1)"
            " AND ($2::text IS NULL OR l.crawl_id = $2)"
            " AND ($3::bigint IS NULL OR l.id > $3) ORDER BY l.id LIMIT $4",
            tenant_id,
            crawl_id,
            after,
            limit,
        )
        return [DeadLetter(**dict(r)) for r in rows]

    # Outbox

    async def outbox_backlog(self) -> int:
        # The partial index outbox_unsent holds exactly these rows.
        row = await self._fetchrow("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")
        return int(row["n"]) if row else 0

    async def relay_outbox(self, publish: Publish, limit: int) -> int:
        async with self._transaction() as conn:
            rows = await conn.fetch(
                "SELECT id, subject, payload FROM outbox WHERE sent_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                limit,
            )
            for row in rows:
                message = OutboxMessage(row["id"], row["subject"], json.loads(row["payload"]))
                await publish(message)
            if rows:
                await conn.execute(
                    "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                    [r["id"] for r in rows],
                )
            return len(rows)

"""PostgreSQL crawler: streams the relation list with each relation's fingerprint (one query),
then reads the catalog in bulk per batch.

Only pg_catalog is queried: information_schema costs 1.5-2.6x as much (see ARCHITECTURE.md).
Every batch costs four queries whatever its size, never one round trip per table.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType

import asyncpg

from catalog.adapters.target_errors import translated
from catalog.adapters.target_tls import verifying_context
from catalog.crawler import AccessCheck, AccessReport, EngineFamily, Relation, RelationRef
from catalog.errors import CrawlFailure
from catalog.models import Column, ForeignKey, Index, SslMode, Table, TableType, Target

log = logging.getLogger(__name__)

_TABLE_TYPES = {
    "r": TableType.TABLE,
    "v": TableType.VIEW,
    "m": TableType.MATERIALIZED_VIEW,
    "p": TableType.PARTITIONED_TABLE,
    "f": TableType.FOREIGN_TABLE,
}

# Rows fetched per round trip while streaming the relation list: flat memory, few round trips.
_PREFETCH = 2_000

# Extra time the client waits beyond statement_timeout, so the server's clean cancel
# (QueryCanceledError) normally wins and the client timer only catches a silent server.
_COMMAND_TIMEOUT_MARGIN = 5.0

# The relations to catalog: tables, views, materialized views, partitioned and foreign tables,
# outside the system schemas.
_CATALOGED = """
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp%'
"""

# Every relation to catalog, by schema then name. `name` columns collate as "C", so this order
# is stable and matches Python's str order.
_LIST_RELATIONS = f"""
SELECT c.oid, n.nspname AS schema, c.relname AS name, NULL AS fingerprint
{_CATALOGED}
ORDER BY n.nspname, c.relname
"""

# The same, each with a digest of its definition, computed by the server in one streamed
# query: kind and name, comment, partition key, bound and parent, view definition; each
# column's name, type, nullability, identity, generated expression or default, collation and
# comment, in column order; keys and indexes. Row estimates and sizes are not part of it.
#
# Measured at 100,000 tables (docs/benchmarks.md), rendering every definition as text
# (pg_get_indexdef, pg_get_constraintdef, format_type) took 18.5 s; so keys and indexes are
# digested from their catalog rows (column numbers, operator classes, the referenced table's
# oid), types by oid and modifier, and text is rendered only for expressions (defaults,
# expression and partial indexes, partitions, views): 4.4 s, against 0.5 s for the bare list.
# Column numbers and oids inside one relation stay put while it exists, and a relation made
# anew has a new oid (another ref), so they never make two definitions look different.
# Each part's rows are sorted before they are aggregated (string_agg then takes them in that
# order), which costs far less than one ORDER BY inside each of 100,000 aggregates.
_LIST_FINGERPRINTS = f"""
WITH rel AS MATERIALIZED (
  SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition, c.relpartbound
  {_CATALOGED}), cols AS (
  SELECT attrelid, md5(string_agg(t, E'\\x1d')) AS digest FROM (
    SELECT a.attrelid, concat_ws(E'\\x1e', a.attname, a.atttypid, a.atttypmod, a.attnotnull,
             a.attidentity, a.attgenerated, a.attcollation,
             CASE WHEN a.atthasdef THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
             d.description) AS t
    FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid
    LEFT JOIN pg_catalog.pg_attrdef ad
           ON a.atthasdef AND ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    LEFT JOIN pg_catalog.pg_description d ON d.objoid = a.attrelid
         AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum) o
  GROUP BY attrelid
), keys AS (
  SELECT conrelid, md5(string_agg(t, E'\\x1d')) AS digest FROM (
    SELECT con.conrelid, concat_ws(E'\\x1e', con.conname, con.contype, con.conkey, con.confrelid,
             con.confkey, con.confupdtype, con.confdeltype, con.confmatchtype, con.condeferrable,
             con.condeferred) AS t
    FROM rel JOIN pg_catalog.pg_constraint con ON con.conrelid = rel.oid
    WHERE con.contype IN ('p', 'u', 'f')
    ORDER BY con.conrelid, con.conname) o
  GROUP BY conrelid
), idx AS (
  SELECT indrelid, md5(string_agg(t, E'\\x1d')) AS digest FROM (
    SELECT x.indrelid, concat_ws(E'\\x1e', ic.relname, ic.relam, x.indisunique, x.indisprimary,
             x.indnkeyatts, x.indkey, x.indclass, x.indoption,
             CASE WHEN x.indexprs IS NOT NULL OR x.indpred IS NOT NULL
                  THEN pg_catalog.pg_get_indexdef(x.indexrelid) END) AS t
    FROM rel JOIN pg_catalog.pg_index x ON x.indrelid = rel.oid
    JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
    ORDER BY x.indrelid, ic.relname) o
  GROUP BY indrelid
)
SELECT rel.oid, rel.nspname AS schema, rel.relname AS name, md5(concat_ws(E'\\x1f',
    rel.relkind, rel.nspname, rel.relname, coalesce(td.description, ''),
    CASE WHEN rel.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(rel.oid) ELSE '' END,
    CASE WHEN rel.relispartition
         THEN pg_catalog.pg_get_expr(rel.relpartbound, rel.oid) || ' OF ' || i.inhparent::text
         ELSE '' END,
    CASE WHEN rel.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(rel.oid) ELSE '' END,
    coalesce(cols.digest, ''), coalesce(keys.digest, ''), coalesce(idx.digest, ''))) AS fingerprint
FROM rel
LEFT JOIN pg_catalog.pg_description td ON td.objoid = rel.oid
     AND td.classoid = 'pg_catalog.pg_class'::regclass AND td.objsubid = 0
LEFT JOIN pg_catalog.pg_inherits i ON rel.relispartition AND i.inhrelid = rel.oid
LEFT JOIN cols ON cols.attrelid = rel.oid
LEFT JOIN keys ON keys.conrelid = rel.oid
LEFT JOIN idx ON idx.indrelid = rel.oid
ORDER BY rel.nspname, rel.relname
"""

# Views and foreign tables have no storage of their own; a partitioned table has none either,
# so its size is the sum of its leaf partitions (pg_total_relation_size alone says 0).
# The joins to pg_description and pg_attrdef repeat the batch's oids: without them the planner
# read either catalog whole for every batch (13 ms of each query at 100,000 tables).
_RELATIONS = """
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       d.description AS comment,
       CASE WHEN c.relkind <> 'v' AND c.reltuples >= 0 THEN c.reltuples::bigint END
           AS row_estimate,
       CASE c.relkind
            WHEN 'p' THEN (SELECT coalesce(sum(pg_catalog.pg_total_relation_size(t.relid)), 0)
                           FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf)::bigint
            WHEN 'r' THEN pg_catalog.pg_total_relation_size(c.oid)
            WHEN 'm' THEN pg_catalog.pg_total_relation_size(c.oid)
       END AS size_bytes,
       pn.nspname AS parent_schema, pc.relname AS parent_name,
       CASE WHEN c.relkind = 'p' THEN (SELECT count(*) FROM pg_catalog.pg_inherits pi
                                       WHERE pi.inhparent = c.oid) END AS partitions,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END
           AS definition
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
      AND d.objoid = ANY($1::oid[])
LEFT JOIN pg_catalog.pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
WHERE c.oid = ANY($1::oid[])
"""

# A generated column's expression lives in pg_attrdef too, but it is not a default. A
# collation is named only where it is not the type's own, as pg_dump does.
_COLUMNS = """
SELECT a.attrelid AS oid, a.attname AS name, a.attnum AS position,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       NOT a.attnotnull AS nullable,
       CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END
           AS "default",
       CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END
           AS generated,
       a.attidentity <> '' AS auto_increment,
       CASE WHEN a.attcollation <> ty.typcollation THEN co.collname END AS collation,
       d.description AS comment
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_catalog.pg_attrdef ad
       ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum AND ad.adrelid = ANY($1::oid[])
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
      AND d.objsubid = a.attnum AND d.objoid = ANY($1::oid[])
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Unique constraints need no query of their own: each one is a unique index, read below.
# A foreign key that references a partitioned table also gets one internal copy per referenced
# partition on the same referencing table; those copies (their parent is on the same table)
# are left out. Copies on partitions of a referencing partitioned table are real keys and stay.
_CONSTRAINTS = """
SELECT con.conrelid AS oid, con.conname AS name, con.contype::text AS kind,
       ARRAY(SELECT a.attname
             FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS columns,
       rn.nspname AS ref_schema, rc.relname AS ref_table,
       ARRAY(SELECT a.attname
             FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord) AS ref_columns
FROM pg_catalog.pg_constraint con
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.conrelid = ANY($1::oid[]) AND con.contype IN ('p', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint parent
                  WHERE parent.oid = con.conparentid AND parent.conrelid = con.conrelid)
ORDER BY con.conrelid, con.conname
"""

# Key columns only (not INCLUDE ones). A plain column is given by its raw name; an expression
# by its text, which is what pg_get_indexdef(indexrelid, k, true) returns for it.
_INDEXES = """
SELECT x.indrelid AS oid, ic.relname AS name, x.indisunique AS "unique",
       x.indisprimary AS "primary", pg_catalog.pg_get_indexdef(x.indexrelid) AS definition,
       ARRAY(SELECT CASE WHEN x.indkey[k - 1] = 0
                         THEN pg_catalog.pg_get_indexdef(x.indexrelid, k, true)
                         ELSE (SELECT a.attname FROM pg_catalog.pg_attribute a
                               WHERE a.attrelid = x.indrelid AND a.attnum = x.indkey[k - 1])
                    END
             FROM generate_series(1, x.indnkeyatts) AS k
             ORDER BY k) AS columns
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
WHERE x.indrelid = ANY($1::oid[])
ORDER BY x.indrelid, ic.relname
"""


def whole_catalog_queries() -> dict[str, str]:
    """The batch queries over every cataloged relation, one statement each: what a whole crawl
    reads. Public so bench.extract_floor times this floor with the crawler's own SQL."""
    every = f"IN (SELECT c.oid {_CATALOGED})"
    batch = {
        "relations": _RELATIONS,
        "columns": _COLUMNS,
        "constraints": _CONSTRAINTS,
        "indexes": _INDEXES,
    }
    return {name: sql.replace("= ANY($1::oid[])", every) for name, sql in batch.items()}


# Refused, DNS failure, connection lost, server shut down or our backend terminated, a database
# that does not accept connections right now, or one with no connection slot free.
_LOST = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.ObjectNotInPrerequisiteStateError,
    asyncpg.TooManyConnectionsError,
)
_DRIVER = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


def _error_class(exc: BaseException) -> str | None:
    """Classify a driver or network error for the crawl status; None if it is not one."""
    # QueryCanceledError is an OperatorInterventionError, and TimeoutError and SSLError are
    # OSErrors: test them first.
    if isinstance(exc, TimeoutError | asyncpg.QueryCanceledError):
        return "timeout"
    if isinstance(exc, ssl.SSLError):
        return "tls"  # a certificate that does not verify
    if isinstance(exc, ConnectionError) and "rejected SSL upgrade" in str(exc):
        return "tls"  # sslmode asks for TLS, the server has none
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return "auth_failed"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "database_missing"
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return "permission"
    if isinstance(exc, _LOST) or (
        isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)
    ):
        return "unreachable"
    if isinstance(exc, _DRIVER):
        return "error"
    return None


def _describe(exc: BaseException) -> str:
    """An error's type and the text its fields give: the server's own message for a server
    error, the OS's words for a socket error. The password is never among them."""
    if isinstance(exc, asyncpg.PostgresError):
        text = exc.message
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc)  # the driver's and the TLS library's fixed texts
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tls(target: Target) -> ssl.SSLContext | str | bool:
    """asyncpg's `ssl` argument for the target's sslmode."""
    if target.sslmode is SslMode.DISABLE:
        return False
    if target.sslmode.verifies_ca:
        return verifying_context(target)
    return str(target.sslmode)  # allow | prefer | require: encrypt without verifying


class PostgresCrawler:
    """One read-only connection to a target database; yields domain models only."""

    def __init__(
        self,
        target: Target,
        password: str,
        *,
        connect_timeout: float,
        statement_timeout: float,
        application_name: str = "catalog-indexer",
        address: str | None = None,
    ) -> None:
        """`address`: the IP the SSRF guard checked for target.host; connect there, not to a
        fresh (possibly rebound) DNS answer, in every TLS mode (verify-full checks the
        certificate against target.host, not against the address)."""
        self._target = target
        self._address = address
        self._password = password
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._application_name = application_name
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> PostgresCrawler:
        with self._translated(connecting=True):
            self._connection = await asyncpg.connect(
                host=self._host(),
                port=self._target.port,
                user=self._target.user,
                # Always a str: None would make asyncpg fall back to this host's PGPASSWORD or
                # ~/.pgpass and offer a local secret to whatever server the target names.
                password=self._password,
                database=self._target.dbname,
                ssl=_tls(self._target),
                timeout=self._connect_timeout,
                command_timeout=self._statement_timeout + _COMMAND_TIMEOUT_MARGIN,
                server_settings={
                    "application_name": self._application_name,
                    "default_transaction_read_only": "on",
                    "statement_timeout": str(int(self._statement_timeout * 1000)),
                    # The per-index subqueries look costly to the planner, whose JIT then spent
                    # ~190 ms compiling per batch of 500 tables, for a query that runs in 40 ms.
                    "jit": "off",
                },
            )
        return self

    def _host(self) -> str:
        return self._target.host if self._address is None else self._address

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        # close() aborts the socket itself when the goodbye fails; that failure must not
        # hide the crawl's own outcome.
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await connection.close(timeout=self._connect_timeout)

    async def list_relations(self, fingerprints: bool = True) -> AsyncIterator[Relation]:
        """Every relation to catalog (its oid as ref), with its fingerprint if asked, by schema
        then name, streamed from a cursor."""
        connection = self._open()
        with self._translated():
            async with connection.transaction(readonly=True):
                await connection.execute("SET LOCAL search_path = pg_catalog")
                sql = _LIST_FINGERPRINTS if fingerprints else _LIST_RELATIONS
                async for row in connection.cursor(sql, prefetch=_PREFETCH):
                    yield Relation(str(row["oid"]), row["schema"], row["name"], row["fingerprint"])

    async def read_batch(self, refs: Sequence[RelationRef]) -> list[Table]:
        """Tables for `refs` (oids), in that order; relations dropped since the plan are
        skipped."""
        connection = self._open()
        wanted = _oids(refs)
        with self._translated():
            # One snapshot for the four queries, so a batch never mixes two catalog states.
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                relations = await connection.fetch(_RELATIONS, wanted)
                columns = await connection.fetch(_COLUMNS, wanted)
                constraints = await connection.fetch(_CONSTRAINTS, wanted)
                indexes = await connection.fetch(_INDEXES, wanted)
        by_oid = {row["oid"]: row for row in relations}
        columns_of = _group(columns)
        constraints_of = _group(constraints)
        indexes_of = _group(indexes)
        return [
            _table(ref, by_oid[oid], columns_of[oid], constraints_of[oid], indexes_of[oid])
            for ref, oid in zip(refs, wanted, strict=True)
            if oid in by_oid
        ]

    async def check_access(self) -> AccessReport:
        """What a connection test reports: the crawler needs CONNECT, and reads only pg_catalog,
        which PostgreSQL shows to every role; schema USAGE is reported, not required."""
        connection = self._open()
        with self._translated():
            version = await connection.fetchval("SHOW server_version")
            read_only = await connection.fetchval("SHOW default_transaction_read_only")
            visible = await connection.fetchval(f"SELECT count(*) {_CATALOGED}")
            no_usage = await connection.fetch(
                "SELECT nspname FROM pg_catalog.pg_namespace"
                " WHERE nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND nspname NOT LIKE 'pg\\_%'"
                " AND NOT has_schema_privilege(oid, 'USAGE') ORDER BY nspname LIMIT 20"
            )
        missing = ", ".join(r["nspname"] for r in no_usage)
        return AccessReport(
            server_version=version,
            checks=(
                AccessCheck(
                    "connect",
                    True,
                    f"connected to {self._target.dbname} as {self._target.user}",
                ),
                AccessCheck(
                    "read_only_session",
                    read_only == "on",
                    "the session is read-only" if read_only == "on" else "read-only not in force",
                ),
                AccessCheck("catalog_visible", True, f"{visible} relations visible in pg_catalog"),
                AccessCheck(
                    "schema_usage",
                    True,
                    f"no USAGE on: {missing} (their tables are still cataloged)"
                    if missing
                    else "USAGE on every schema",
                ),
            ),
        )

    def _open(self) -> asyncpg.Connection:
        if self._connection is None:
            raise RuntimeError("PostgresCrawler is used outside `async with`")
        return self._connection

    @contextlib.contextmanager
    def _translated(self, *, connecting: bool = False) -> Iterator[None]:
        with translated(self._target, _error_class, _describe, connecting=connecting, logger=log):
            yield


_Rows = list[asyncpg.Record]


def _oids(refs: Sequence[RelationRef]) -> list[int]:
    try:
        return [int(ref) for ref in refs]
    except ValueError as exc:  # a plan made by another engine's crawler
        raise CrawlFailure("error", f"not a PostgreSQL relation ref: {exc}") from exc


def _group(rows: _Rows) -> defaultdict[int, _Rows]:
    grouped: defaultdict[int, _Rows] = defaultdict(list)
    for row in rows:
        grouped[row["oid"]].append(row)
    return grouped


def _table(
    ref: RelationRef, relation: asyncpg.Record, columns: _Rows, constraints: _Rows, indexes: _Rows
) -> Table:
    primary_key: tuple[str, ...] = ()
    foreign_keys = []
    for con in constraints:
        if con["kind"] == "p":
            primary_key = tuple(con["columns"])
        else:
            foreign_keys.append(
                ForeignKey(
                    name=con["name"],
                    columns=tuple(con["columns"]),
                    ref_schema=con["ref_schema"],
                    ref_table=con["ref_table"],
                    ref_columns=tuple(con["ref_columns"]),
                )
            )
    parent = relation["parent_name"]
    return Table(
        schema=relation["schema"],
        name=relation["name"],
        type=_TABLE_TYPES[relation["kind"]],
        columns=tuple(
            Column(
                name=col["name"],
                position=col["position"],
                data_type=col["data_type"],
                nullable=col["nullable"],
                default=col["default"],
                comment=col["comment"],
                primary_key=col["name"] in primary_key,
                generated=col["generated"],
                auto_increment=col["auto_increment"],
                collation=col["collation"],
            )
            for col in columns
        ),
        comment=relation["comment"],
        row_estimate=relation["row_estimate"],
        size_bytes=relation["size_bytes"],
        primary_key=primary_key,
        foreign_keys=tuple(foreign_keys),
        indexes=tuple(
            Index(
                name=idx["name"],
                columns=tuple(idx["columns"]),
                unique=idx["unique"],
                primary=idx["primary"],
                definition=idx["definition"],
            )
            for idx in indexes
        ),
        partition_of=f"{relation['parent_schema']}.{parent}" if parent is not None else None,
        definition=relation["definition"],
        partitions=relation["partitions"],
        ref=ref,
    )


def answered(first_bytes: bytes) -> bool:
    """PostgreSQL answers an SSLRequest with one byte: S (TLS on offer) or N (none)."""
    return first_bytes in (b"S", b"N")


POSTGRESQL = EngineFamily(
    label="PostgreSQL",
    open=PostgresCrawler,
    default_port=5432,
    tls_modes=(
        SslMode.PREFER,
        SslMode.DISABLE,
        SslMode.ALLOW,
        SslMode.REQUIRE,
        SslMode.VERIFY_CA,
        SslMode.VERIFY_FULL,
    ),
    dbname_required=True,
    answered=answered,
)

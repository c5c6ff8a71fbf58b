"""MySQL and MariaDB crawler: lists the relations with their fingerprints from information_schema,
then reads them in bulk per batch, one query per kind (tables, views, columns, keys, indexes),
never per table.

A relation ref is `schema`.`table`, quoted as MySQL quotes identifiers. A batch's conditions name
each schema and its tables literally: MariaDB evaluates such a condition on the names before it
opens a table's definition, so a batch opens only its own tables (MySQL 8 reads its data
dictionary with indexes either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import ssl
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any

from asyncmy import errors
from asyncmy.connection import Connection
from asyncmy.constants import CLIENT

from catalog.adapters.target_errors import translated
from catalog.adapters.target_tls import encrypting_context, verifying_context
from catalog.crawler import AccessCheck, AccessReport, EngineFamily, Relation, RelationRef
from catalog.errors import CrawlFailure
from catalog.models import Column, ForeignKey, Index, SslMode, Table, TableType, Target

log = logging.getLogger(__name__)

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")

# A table's fingerprint (catalog.crawler.Relation) in parts, each a digest per table of one
# schema, computed by the server: GROUP_CONCAT in a stable order, then MD5 (the session allows
# long GROUP_CONCATs). Row counts, sizes and AUTO_INCREMENT values are left out. NULL and ''
# differ where both can occur (a default).
#
# Measured on MariaDB at 10,000 tables (docs/benchmarks.md): a column that makes the server open
# each table in its engine costs ~2.3 s a pass with the default table_definition_cache; those
# that need only the table's definition cost 0.1-0.6 s. So TABLES leaves out CREATE_OPTIONS and
# STATISTICS leaves out INDEX_TYPE (an index dropped and made again under its name, on the same
# columns, of another type goes unnoticed until another change); KEY_COLUMN_USAGE (foreign
# keys) and PARTITIONS need the open, and pay it once each.
_TABLE_NAMES = "SELECT TABLE_NAME, NULL FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
_TABLE_FINGERPRINTS = (
    "SELECT TABLE_NAME, MD5(CONCAT_WS(0x1f, TABLE_TYPE, IFNULL(ENGINE, ''),"
    " IFNULL(TABLE_COLLATION, ''), IFNULL(TABLE_COMMENT, '')))"
    " FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
)
_COLUMN_FINGERPRINTS = (
    "SELECT TABLE_NAME, MD5(GROUP_CONCAT(CONCAT_WS(0x1e, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,"
    " IFNULL(CONCAT('=', COLUMN_DEFAULT), ''), EXTRA, IFNULL(GENERATION_EXPRESSION, ''),"
    " IFNULL(COLLATION_NAME, ''), COLUMN_COMMENT) ORDER BY ORDINAL_POSITION SEPARATOR 0x1d))"
    " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s GROUP BY TABLE_NAME"
)
_KEY_FINGERPRINTS = (
    "SELECT TABLE_NAME, MD5(GROUP_CONCAT(CONCAT_WS(0x1e, CONSTRAINT_NAME, COLUMN_NAME,"
    " IFNULL(REFERENCED_TABLE_SCHEMA, ''), IFNULL(REFERENCED_TABLE_NAME, ''),"
    " IFNULL(REFERENCED_COLUMN_NAME, '')) ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION"
    " SEPARATOR 0x1d)) FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s"
    " GROUP BY TABLE_NAME"
)
_INDEX_FINGERPRINTS = (
    "SELECT TABLE_NAME, MD5(GROUP_CONCAT(CONCAT_WS(0x1e, INDEX_NAME, NON_UNIQUE,"
    " IFNULL(COLUMN_NAME, ''), IFNULL(SUB_PART, ''), {expression}, INDEX_COMMENT)"
    " ORDER BY INDEX_NAME, SEQ_IN_INDEX SEPARATOR 0x1d))"
    " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s GROUP BY TABLE_NAME"
)
_VIEW_FINGERPRINTS = (
    "SELECT TABLE_NAME, MD5(VIEW_DEFINITION) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"
)
_PARTITION_FINGERPRINTS = (
    "SELECT TABLE_NAME, MD5(GROUP_CONCAT(CONCAT_WS(0x1e, PARTITION_NAME, PARTITION_METHOD,"
    " IFNULL(PARTITION_EXPRESSION, ''), IFNULL(PARTITION_DESCRIPTION, ''),"
    " IFNULL(SUBPARTITION_NAME, '')) ORDER BY PARTITION_ORDINAL_POSITION,"
    " SUBPARTITION_ORDINAL_POSITION SEPARATOR 0x1d)) FROM information_schema.PARTITIONS"
    " WHERE TABLE_SCHEMA = %s AND PARTITION_NAME IS NOT NULL GROUP BY TABLE_NAME"
)
# Long enough for the GROUP_CONCAT of a wide table's columns (the default is 1 KiB on MySQL).
_GROUP_CONCAT_BYTES = 64 * 2**20
# Extra time the client waits beyond the server's statement limit, so the server's clean
# interruption normally wins and the client timer only catches a silent server.
_COMMAND_TIMEOUT_MARGIN = 5.0

# Error codes (MySQL's and MariaDB's, which agree on these) and what a crawl records for each.
_ERROR_CLASSES = {
    1045: "auth_failed",  # access denied: unknown user or wrong password
    1049: "database_missing",  # unknown database
    1044: "permission",  # access denied to the database
    1142: "permission",  # command denied on a table
    1143: "permission",  # command denied on a column
    1227: "permission",  # a privilege missing
    1130: "permission",  # this host may not connect
    3024: "timeout",  # MySQL: max_execution_time exceeded
    1969: "timeout",  # MariaDB: max_statement_time exceeded
    3159: "tls",  # the server accepts only encrypted connections
    2003: "unreachable",  # cannot connect
    2013: "unreachable",  # connection lost during a query
    2006: "unreachable",  # server gone away
    1040: "unreachable",  # too many connections: may pass
    1053: "unreachable",  # server shutdown in progress
}

_NAME_PART = r"`((?:[^`]|``)*)`"
_REF = re.compile(rf"{_NAME_PART}\.{_NAME_PART}")
_GENERATED = re.compile(r"\b(?:STORED|VIRTUAL|PERSISTENT) GENERATED\b", re.IGNORECASE)


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def relation_ref(schema: str, table: str) -> RelationRef:
    return f"{quote(schema)}.{quote(table)}"


def _parsed(ref: RelationRef) -> tuple[str, str]:
    match = _REF.fullmatch(ref)
    if match is None:  # a plan made by another engine's crawler
        raise CrawlFailure("error", f"not a MySQL relation ref: {ref!r}")
    schema, table = match.groups()
    return schema.replace("``", "`"), table.replace("``", "`")


def _in_batch(names: Sequence[tuple[str, str]]) -> tuple[str, list[str]]:
    """A WHERE condition naming the batch's tables schema by schema, and its parameters."""
    by_schema: dict[str, list[str]] = defaultdict(list)
    for schema, table in names:
        by_schema[schema].append(table)
    clauses, params = [], []
    for schema, tables in by_schema.items():
        clauses.append(f"(TABLE_SCHEMA = %s AND TABLE_NAME IN ({', '.join(['%s'] * len(tables))}))")
        params += [schema, *tables]
    return " OR ".join(clauses), params


_TABLES = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH,
       TABLE_COMMENT, CREATE_OPTIONS
FROM information_schema.TABLES WHERE {batch}
"""
_VIEWS = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE {batch}"
)
# Only for the batch's partitioned tables: reading PARTITIONS opens each table it names.
_PARTITIONS = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, COUNT(DISTINCT PARTITION_NAME)"
    " FROM information_schema.PARTITIONS WHERE ({batch}) AND PARTITION_NAME IS NOT NULL"
    " GROUP BY TABLE_SCHEMA, TABLE_NAME"
)
_COLUMNS = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE,
       COLUMN_DEFAULT, EXTRA, GENERATION_EXPRESSION, COLLATION_NAME, COLUMN_COMMENT
FROM information_schema.COLUMNS WHERE {batch}
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""
# Primary and foreign keys; unique keys are indexes, read below.
_KEYS = """
SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA,
       REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE
WHERE ({batch}) AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL)
ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION
"""
# MySQL 8.0.13+ names a functional key part by its EXPRESSION (and COLUMN_NAME is NULL).
_INDEXES = """
SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, INDEX_TYPE, SUB_PART,
       COLLATION, {expression}
FROM information_schema.STATISTICS WHERE {batch}
ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""


def _error_class(exc: BaseException) -> str | None:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLError | _NoTls):
        return "tls"  # a certificate that does not verify, a failed handshake, or no TLS
    if isinstance(exc, errors.MySQLError):
        if isinstance(exc.__cause__, ssl.SSLError):
            return "tls"
        return _ERROR_CLASSES.get(exc.args[0] if exc.args else None, "error")
    if isinstance(exc, OSError):
        return "unreachable"
    return None


def _describe(exc: BaseException) -> str:
    """An error's type and what its fields say: the code and the server's (or the client
    library's) message, which never carries the password."""
    if isinstance(exc, errors.MySQLError) and len(exc.args) >= 2:
        return f"{type(exc).__name__}: ({exc.args[0]}) {exc.args[1]}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _NoTls(Exception):
    def __str__(self) -> str:
        return "the server does not offer TLS, which sslmode requires"


class _TargetConnection(Connection):
    """asyncmy encrypts whenever it holds a TLS context. MySQL's `preferred` goes on in plain
    text when the server offers no TLS; the stricter modes fail, saying so."""

    tls_optional = False

    async def _request_authentication(self) -> None:
        if self._ssl_context is not None and not self.server_capabilities & CLIENT.SSL:
            if not self.tls_optional:
                raise _NoTls
            self._ssl_context = None
            self._client_flag &= ~CLIENT.SSL
        await super()._request_authentication()


def _tls(target: Target) -> ssl.SSLContext | None:
    if target.sslmode is SslMode.DISABLED:
        return None
    if target.sslmode.verifies_ca:
        return verifying_context(target)
    return encrypting_context()


class MySqlCrawler:
    """One read-only session on a MySQL or MariaDB server; yields domain models only."""

    def __init__(
        self,
        target: Target,
        password: str,
        *,
        connect_timeout: float,
        statement_timeout: float,
        program_name: str = "catalog-indexer",
        address: str | None = None,
    ) -> None:
        """`address`: the IP the SSRF guard checked for target.host; connect there, never to a
        second DNS answer (verify_identity checks the certificate against target.host)."""
        self._target = target
        self._password = password
        self._connect_timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._program_name = program_name
        self._address = address
        self._connection: _TargetConnection | None = None
        self._mariadb = False
        self._expression_column = False

    async def __aenter__(self) -> MySqlCrawler:
        target = self._target
        connection = _TargetConnection(
            host=self._address or target.host,
            port=target.port,
            user=target.user,
            # Always a str: never a fallback to an option file of this host.
            password=self._password,
            database=target.dbname or None,
            charset="utf8mb4",
            connect_timeout=self._connect_timeout,
            program_name=self._program_name,
            ssl=_tls(target),
            autocommit=True,
        )
        connection.tls_optional = target.sslmode is SslMode.PREFERRED
        with self._translated(connecting=True):
            try:
                # The greeting and the login are bounded too: a server that accepts the socket
                # but never greets (PostgreSQL, for one) must not hold the crawl.
                async with asyncio.timeout(self._connect_timeout):
                    await connection.connect()
            except BaseException:
                connection.close()
                raise
        self._connection = connection
        version = connection.get_server_info()
        self._mariadb = "mariadb" in version.lower()
        self._expression_column = not self._mariadb and _version(version) >= (8, 0, 13)
        limit = (
            f"max_statement_time = {self._statement_timeout:g}"
            if self._mariadb
            else f"max_execution_time = {int(self._statement_timeout * 1000)}"
        )
        with self._translated():
            await self._execute("SET SESSION TRANSACTION READ ONLY")
            await self._execute(f"SET SESSION {limit}")
            await self._execute(f"SET SESSION group_concat_max_len = {_GROUP_CONCAT_BYTES}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        # The goodbye failing must not hide the crawl's own outcome.
        with contextlib.suppress(OSError, errors.MySQLError, TimeoutError):
            async with asyncio.timeout(self._connect_timeout):
                await connection.ensure_closed()
        connection.close()

    async def list_relations(self, fingerprints: bool = True) -> AsyncIterator[Relation]:
        """Every table and view (`schema`.`table` as ref), by schema then name (binary order),
        with its fingerprint if asked: per schema, one query per part of the definition, each
        giving a digest per table computed by the server; the fingerprint digests those."""
        queries = self._fingerprint_parts() if fingerprints else (_TABLE_NAMES,)
        with self._translated():
            for schema in await self._schema_names():
                parts = [await self._fetch(sql, [schema]) for sql in queries]
                digests = {row[0]: [""] * len(parts) for row in parts[0]}
                for number, rows in enumerate(parts):
                    for table, digest in rows:
                        if table in digests:  # else made after the first query: next crawl
                            digests[table][number] = digest or ""
                for table in sorted(digests, key=lambda name: name.encode()):
                    digest = "\x1f".join(digests[table]).encode()
                    fingerprint = hashlib.md5(digest).hexdigest() if fingerprints else None
                    yield Relation(relation_ref(schema, table), schema, table, fingerprint)

    def _schemas(self) -> tuple[str, list[str]]:
        if self._target.dbname:
            return "TABLE_SCHEMA = %s", [self._target.dbname]
        return f"TABLE_SCHEMA NOT IN ({', '.join(['%s'] * len(SYSTEM_SCHEMAS))})", list(
            SYSTEM_SCHEMAS
        )

    async def _schema_names(self) -> list[str]:
        if self._target.dbname:
            return [self._target.dbname]
        rows = await self._fetch(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
            f" WHERE SCHEMA_NAME NOT IN ({', '.join(['%s'] * len(SYSTEM_SCHEMAS))})",
            SYSTEM_SCHEMAS,
        )
        return sorted((row[0] for row in rows), key=lambda name: name.encode())

    def _fingerprint_parts(self) -> tuple[str, ...]:
        expression = "IFNULL(EXPRESSION, '')" if self._expression_column else "''"
        return (_TABLE_FINGERPRINTS, _COLUMN_FINGERPRINTS, _KEY_FINGERPRINTS,
                _INDEX_FINGERPRINTS.format(expression=expression), _VIEW_FINGERPRINTS,
                _PARTITION_FINGERPRINTS)  # fmt: skip

    async def read_batch(self, refs: Sequence[RelationRef]) -> list[Table]:
        """Tables for `refs`, in that order; relations dropped since the plan are skipped."""
        wanted = [_parsed(ref) for ref in refs]
        if not wanted:
            return []
        batch, params = _in_batch(wanted)
        expression = "EXPRESSION" if self._expression_column else "NULL"
        with self._translated():
            tables = await self._fetch(_TABLES.format(batch=batch), params)
            relations = {
                (row[0], row[1]): row for row in tables if row[2] != "SEQUENCE"
            }  # a MariaDB sequence is no table
            views = [key for key, row in relations.items() if row[2] == "VIEW"]
            definitions: dict[tuple[str, str], str] = {}
            if views:
                view_batch, view_params = _in_batch(views)
                rows = await self._fetch(_VIEWS.format(batch=view_batch), view_params)
                definitions = {(r[0], r[1]): r[2] for r in rows}
            partitioned = [key for key, row in relations.items() if _is_partitioned(row)]
            partitions: dict[tuple[str, str], int] = {}
            if partitioned:
                counted_batch, counted_params = _in_batch(partitioned)
                rows = await self._fetch(_PARTITIONS.format(batch=counted_batch), counted_params)
                partitions = {(r[0], r[1]): int(r[2]) for r in rows}
            columns = _grouped(await self._fetch(_COLUMNS.format(batch=batch), params))
            keys = _grouped(await self._fetch(_KEYS.format(batch=batch), params))
            indexes = _grouped(
                await self._fetch(_INDEXES.format(batch=batch, expression=expression), params)
            )
        return [
            _table(
                ref,
                relations[name],
                definitions.get(name),
                columns[name],
                keys[name],
                indexes[name],
                partitions.get(name),
            )
            for ref, name in zip(refs, wanted, strict=True)
            if name in relations
        ]

    async def check_access(self) -> AccessReport:
        """What a connection test reports: the server, the read-only session, and how many
        relations this user can see (MySQL shows a user only what it holds privileges on)."""
        where, params = self._schemas()
        with self._translated():
            version = (await self._fetch("SELECT VERSION()", []))[0][0]
            # MariaDB before 11.1 knows only the old name.
            variable = "tx_read_only" if self._mariadb else "transaction_read_only"
            read_only = (await self._fetch(f"SELECT @@SESSION.{variable}", []))[0][0]
            visible = (
                await self._fetch(
                    f"SELECT count(*) FROM information_schema.TABLES WHERE {where}", params
                )
            )[0][0]
        scope = f"schema {self._target.dbname}" if self._target.dbname else "every schema"
        return AccessReport(
            server_version=version,
            checks=(
                AccessCheck("connect", True, f"connected as {self._target.user} to {scope}"),
                AccessCheck(
                    "read_only_session",
                    bool(read_only),
                    "the session is read-only" if read_only else "read-only not in force",
                ),
                AccessCheck(
                    "catalog_visible",
                    visible > 0,
                    f"{visible} relations visible in information_schema"
                    if visible
                    else "no relation visible: grant SELECT (or SHOW VIEW) on the schema",
                ),
            ),
        )

    async def _execute(self, sql: str) -> None:
        async with self._open().cursor() as cursor, self._time_limit():
            await cursor.execute(sql)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._open().cursor() as cursor, self._time_limit():
            await cursor.execute(sql, params or None)
            return list(await cursor.fetchall())

    def _time_limit(self) -> asyncio.Timeout:
        return asyncio.timeout(self._statement_timeout + _COMMAND_TIMEOUT_MARGIN)

    def _open(self) -> _TargetConnection:
        if self._connection is None:
            raise RuntimeError("MySqlCrawler is used outside `async with`")
        return self._connection

    @contextlib.contextmanager
    def _translated(self, *, connecting: bool = False) -> Iterator[None]:
        with translated(self._target, _error_class, _describe, connecting=connecting, logger=log):
            yield


def _version(text: str) -> tuple[int, ...]:
    numbers = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(n) for n in numbers.groups()) if numbers else (0, 0, 0)


_Rows = list[tuple[Any, ...]]


def _grouped(rows: _Rows) -> defaultdict[tuple[str, str], _Rows]:
    grouped: defaultdict[tuple[str, str], _Rows] = defaultdict(list)
    for row in rows:
        grouped[(row[0], row[1])].append(row)
    return grouped


def _is_partitioned(relation: tuple[Any, ...]) -> bool:
    """Whether a TABLES row (see _TABLES) is of a partitioned table: its create options say so."""
    return "partitioned" in (relation[8] or "").lower()


def _table(
    ref: RelationRef,
    relation: tuple[Any, ...],
    definition: str | None,
    columns: _Rows,
    keys: _Rows,
    indexes: _Rows,
    partitions: int | None,
) -> Table:
    schema, name, kind, engine, rows, data_length, index_length, comment, _ = relation
    view = kind == "VIEW"
    primary_key = tuple(k[3] for k in keys if k[2] == "PRIMARY")
    return Table(
        schema=schema,
        name=name,
        type=(
            TableType.VIEW
            if view
            else TableType.PARTITIONED_TABLE
            if _is_partitioned(relation)
            else TableType.TABLE
        ),
        columns=tuple(_column(col, primary_key) for col in columns),
        # MySQL gives every view the comment "VIEW"; views cannot have one of their own.
        comment=None if view else comment or None,
        row_estimate=None if view else rows,
        size_bytes=None if view or data_length is None else data_length + (index_length or 0),
        primary_key=primary_key,
        foreign_keys=_foreign_keys(keys),
        indexes=_indexes(indexes),
        definition=definition,
        storage_engine=engine,
        partitions=partitions,
        ref=ref,
    )


def _column(row: tuple[Any, ...], primary_key: tuple[str, ...]) -> Column:
    _, _, name, position, data_type, nullable, default, extra, expression, collation, comment = row
    generated = bool(_GENERATED.search(extra or ""))
    return Column(
        name=name,
        position=position,
        data_type=data_type,
        nullable=nullable == "YES",
        # MariaDB writes the default NULL as the word NULL (and quotes string literals).
        default=None if generated or default in (None, "NULL") else default,
        comment=comment or None,
        primary_key=name in primary_key,
        generated=expression if generated else None,
        auto_increment="auto_increment" in (extra or "").lower(),
        collation=collation,
    )


def _foreign_keys(keys: _Rows) -> tuple[ForeignKey, ...]:
    by_name: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for key in keys:
        if key[5] is not None:
            by_name[key[2]].append(key)
    return tuple(
        ForeignKey(
            name=name,
            columns=tuple(k[3] for k in parts),
            ref_schema=parts[0][4],
            ref_table=parts[0][5],
            ref_columns=tuple(k[6] for k in parts),
        )
        for name, parts in by_name.items()
    )


_INDEX_KINDS = {"FULLTEXT": "FULLTEXT KEY", "SPATIAL": "SPATIAL KEY"}


def _indexes(rows: _Rows) -> tuple[Index, ...]:
    by_name: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_name[row[2]].append(row)
    indexes = []
    for name, parts in by_name.items():
        columns = tuple(part[4] if part[4] is not None else f"({part[8]})" for part in parts)
        primary = name == "PRIMARY"
        unique = parts[0][3] == 0
        kind = (
            "PRIMARY KEY"
            if primary
            else "UNIQUE KEY"
            if unique
            else _INDEX_KINDS.get(parts[0][5], "KEY")
        )
        keyed = ",".join(_key_part(part) for part in parts)
        label = kind if primary else f"{kind} {quote(name)}"
        indexes.append(
            Index(
                name=name,
                columns=columns,
                unique=unique,
                primary=primary,
                definition=f"{label} ({keyed})",
            )
        )
    return tuple(indexes)


def _key_part(part: tuple[Any, ...]) -> str:
    """One key part as SHOW CREATE TABLE prints it: `col`, `col`(10), (expr), with DESC."""
    _, _, _, _, column, index_type, sub_part, order, expression = part
    text = f"({expression})" if column is None else quote(column)
    if sub_part is not None and index_type != "SPATIAL":
        text += f"({sub_part})"
    return text + (" DESC" if order == "D" else "")


def answered(first_bytes: bytes) -> bool:
    """A MySQL server greets first: a packet numbered 0 holding protocol version 10, or an
    error packet (0xff) when it refuses this host or has no connection free."""
    return len(first_bytes) >= 5 and first_bytes[3] == 0 and first_bytes[4] in (0x0A, 0xFF)


MYSQL = EngineFamily(
    label="MySQL/MariaDB",
    open=MySqlCrawler,
    default_port=3306,
    tls_modes=(
        SslMode.PREFERRED,
        SslMode.DISABLED,
        SslMode.REQUIRED,
        SslMode.MYSQL_VERIFY_CA,
        SslMode.VERIFY_IDENTITY,
    ),
    dbname_required=False,
    answered=answered,
)

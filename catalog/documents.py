"""Search documents: one per table and one per column, with deterministic ids.

A document id depends only on (database, generation, schema, table[, column]): handling the same
batch twice writes the same documents, and a new crawl never overwrites the documents readers
are still being served from the previous complete one.

Documents are versions of relations. Each was written by one crawl (`generation`) and is seen
until a later crawl replaces it or finds its relation gone (`retired`, that crawl's generation).
An incremental crawl writes only the relations that changed, so what readers see of a database
is a Scope: the documents written from its last full crawl (`base`) up to the live generation,
and not retired by then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from functools import lru_cache
from itertools import chain
from types import MappingProxyType
from typing import Any

import orjson

from catalog.identifiers import compact_name, identifier_terms, inner_suffixes
from catalog.models import Table


class DocumentKind(StrEnum):
    TABLE = "table"
    COLUMN = "column"


class TermField(StrEnum):
    """The analysed fields every search adapter indexes, under these names, as keywords."""

    NAME = "name"  # the whole name, lower-cased: the exact-name bonus
    NAME_TERMS = "name_terms"  # identifier_terms(name): exact, prefix and fuzzy matches
    NAME_SUBSTRINGS = "name_substrings"  # inner_suffixes(name): substrings, as prefixes of these
    NAME_COMPACT = "name_compact"  # compact_name(name): suggestions complete names from the start
    COLUMN_TERMS = "column_terms"  # table documents: the terms of every column's name
    TABLE_TERMS = "table_terms"  # column documents: the terms of their table's name
    TABLE_COMPACT = "table_compact"  # column documents: their table's compact name


# The table_type of a partition's documents, and of its columns': search folds them into their
# partitioned table (catalog.search.keyword_exclusions); `type=partition` finds them.
PARTITION = "partition"


def relation_type(table: Table) -> str:
    return PARTITION if table.partition_of else str(table.type)


# Equal matches break ties the same way in every deployment: a table before a column (the table
# named like the query before the columns that repeat its name), then by table type (a base
# table's column before the same column in a view), then in plan order.
_TYPE_RANKS = {"table": 0, "partitioned_table": 1, "view": 2, "materialized_view": 3}
_COLUMN_RANKS = 8


def tie_rank(kind: DocumentKind, table_type: str) -> int:
    """Where a document sorts among hits of equal score: lower first."""
    return (0 if kind is DocumentKind.TABLE else _COLUMN_RANKS) + _TYPE_RANKS.get(table_type, 4)


# `retired` of a document no crawl has replaced (the largest value both engines' integers hold).
NEVER_RETIRED = 2**63 - 1


@dataclass(frozen=True)
class Scope:
    """The documents of one database that a generation is made of: written by crawls `base`
    (the last full crawl) to `generation`, and not retired by `generation`.

    As text, "<database>:<generation>" when base and generation are one (a full crawl), else
    "<database>:<base>-<generation>": the key readers reload and cache answers by.
    """

    database_id: str
    generation: int
    base: int

    def __str__(self) -> str:
        if self.base == self.generation:
            return f"{self.database_id}:{self.generation}"
        return f"{self.database_id}:{self.base}-{self.generation}"

    def sees(self, generation: int, retired: int) -> bool:
        """Whether a document written by `generation` and retired at `retired` is in it."""
        return self.base <= generation <= self.generation < retired

    @classmethod
    def parse(cls, text: str) -> Scope:
        database_id, _, generations = text.rpartition(":")
        base, _, generation = generations.partition("-")
        return cls(database_id, int(generation or base), int(base))


def document_id(
    database_id: str, generation: int, schema: str, table: str, column: str | None = None
) -> str:
    key = orjson.dumps([database_id, generation, schema, table, column])
    return hashlib.blake2b(key, digest_size=16).hexdigest()


# Not frozen, though nothing changes one (dataclasses.replace makes another): a crawl builds one
# per table and column, and a frozen dataclass's __init__ cost four times as much.
@dataclass(slots=True)
class Document:
    id: str
    kind: DocumentKind
    database_id: str
    # The tenant that owns the database: every search filters on it, besides the scopes.
    tenant_id: str
    # The crawl that wrote it.
    generation: int
    # The table's place among the database's tables (sorted by schema, then name, as code
    # points); columns share it. Ordinals are spaced apart, so that an incremental crawl places
    # a new table between its neighbours without renumbering them. Browsing pages by it, so a
    # page costs the same however deep it is.
    ordinal: int
    schema: str
    table: str
    column: str | None
    table_type: str
    data_type: str | None = None
    comment: str | None = None
    # Everything shown to a reader (columns, keys, indexes, sizes); stored, not searched.
    payload: dict[str, Any] = field(default_factory=dict, compare=False)
    # The relation as its crawler names it (catalog.crawler.RelationRef): how a later crawl
    # finds the documents it replaces.
    ref: str = ""
    # The generation that replaced it, or NEVER_RETIRED (see Scope).
    retired: int = NEVER_RETIRED

    @property
    def name(self) -> str:
        return self.column if self.column is not None else self.table

    @property
    def tie_rank(self) -> int:
        return tie_rank(self.kind, self.table_type)

    @property
    def name_terms(self) -> list[str]:
        return identifier_terms(self.name)

    @property
    def column_names(self) -> list[str]:
        """A table document's column names (from its payload); none for a column document."""
        if self.kind is not DocumentKind.TABLE:
            return []
        return [column["name"] for column in self.payload.get("columns", ())]


def relation_key(schema: str, table: str) -> str:
    """One keyword for a relation: the JSON array [schema, table], unambiguous whatever the
    names hold (dots, spaces, quotes)."""
    return orjson.dumps([schema, table]).decode()


def referenced_relations(document: Document) -> list[str]:
    """A table document's `references` keywords: the relation_key of each table its foreign
    keys point at, each once. Empty for most tables and every column."""
    if document.kind is not DocumentKind.TABLE:
        return []
    foreign_keys = document.payload.get("foreign_keys") or ()
    return list(dict.fromkeys(relation_key(k["ref_schema"], k["ref_table"]) for k in foreign_keys))


def document_terms(document: Document) -> dict[TermField, list[str]]:
    """What each analysed field of a document holds: the one analysis both adapters index."""
    own = {field: list(terms) for field, terms in name_analysis(document.name).items()}
    if document.column is None:
        return own | {TermField.COLUMN_TERMS: column_terms(document)}
    return own | {field: list(terms) for field, terms in table_analysis(document.table).items()}


def table_analysis(table: str) -> Mapping[TermField, tuple[str, ...]]:
    """What a column document holds in the fields of its table's name (TABLE_TERMS and
    TABLE_COMPACT): the same for all of a table's columns."""
    analysed = name_analysis(table)
    return MappingProxyType(
        {
            TermField.TABLE_TERMS: analysed[TermField.NAME_TERMS],
            TermField.TABLE_COMPACT: analysed[TermField.NAME_COMPACT],
        }
    )


def column_terms(document: Document) -> list[str]:
    """A table document's COLUMN_TERMS: the terms of its columns' names, each once."""
    analysed = (name_analysis(column)[TermField.NAME_TERMS] for column in document.column_names)
    return list(dict.fromkeys(chain.from_iterable(analysed)))


# Names repeat across tables (every table has its `id`), so each is analysed once.
@lru_cache(maxsize=65_536)
def name_analysis(name: str) -> Mapping[TermField, tuple[str, ...]]:
    """What a document named `name` holds in the fields of its own name: all but COLUMN_TERMS,
    TABLE_TERMS and TABLE_COMPACT (read-only: every caller shares the cached one)."""
    return MappingProxyType(
        {
            TermField.NAME: (name.lower(),),
            TermField.NAME_TERMS: tuple(identifier_terms(name)),
            TermField.NAME_SUBSTRINGS: tuple(inner_suffixes(name)),
            TermField.NAME_COMPACT: (compact_name(name),),
        }
    )


def generation_scope(database_id: str, generation: int, base: int | None = None) -> str:
    """The scope of a generation as text; a full crawl's (base None) sees only its own."""
    return str(Scope(database_id, generation, generation if base is None else base))


@lru_cache(maxsize=16)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _fields_of(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, one level deep: dataclasses.asdict deep-copies every
    value, which profiled as most of a crawl batch's CPU time."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))}


def table_payload(table: Table) -> dict[str, Any]:
    # The ref is the crawler's, not the reader's (a PostgreSQL oid means nothing to them).
    own = {name: value for name, value in _fields_of(table).items() if name != "ref"}
    return {
        **own,
        "type": str(table.type),
        "columns": [_fields_of(c) for c in table.columns],
        "foreign_keys": [_fields_of(fk) for fk in table.foreign_keys],
        "indexes": [_fields_of(i) for i in table.indexes],
    }


def documents_for_table(
    database_id: str, generation: int, ordinal: int, table: Table, *, tenant_id: str
) -> list[Document]:
    """The table's document followed by one document per column."""
    payload = table_payload(table)
    table_type = relation_type(table)
    docs = [
        Document(
            id=document_id(database_id, generation, table.schema, table.name),
            kind=DocumentKind.TABLE,
            database_id=database_id,
            tenant_id=tenant_id,
            generation=generation,
            ordinal=ordinal,
            schema=table.schema,
            table=table.name,
            column=None,
            table_type=table_type,
            comment=table.comment,
            payload=payload,
            ref=table.ref,
        )
    ]
    for column, column_payload in zip(table.columns, payload["columns"], strict=True):
        docs.append(
            Document(
                id=document_id(database_id, generation, table.schema, table.name, column.name),
                kind=DocumentKind.COLUMN,
                database_id=database_id,
                tenant_id=tenant_id,
                generation=generation,
                ordinal=ordinal,
                schema=table.schema,
                table=table.name,
                column=column.name,
                table_type=table_type,
                data_type=column.data_type,
                comment=column.comment,
                payload=column_payload,
                ref=table.ref,
            )
        )
    return docs


def document_to_dict(document: Document) -> dict[str, Any]:
    """Every field of a document, JSON-ready, for adapters that store the whole document."""
    return {**_fields_of(document), "kind": str(document.kind)}


def document_json(document: Document) -> bytes:
    """document_to_dict as JSON, straight from the dataclass (orjson reads dataclasses and
    enums in C: this ran once per document and was a fifth of a crawl's CPU with json)."""
    return orjson.dumps(document)


def document_from_json(source: bytes | str) -> Document:
    return document_from_dict(orjson.loads(source))


_DOCUMENT_FIELDS = tuple(f.name for f in fields(Document))


def document_from_dict(values: dict[str, Any]) -> Document:
    # Written before refs and retirement existed: such a document has their defaults.
    kept = {name: values[name] for name in _DOCUMENT_FIELDS if name in values}
    return Document(**{**kept, "kind": DocumentKind(kept["kind"])})

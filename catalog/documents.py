"""Search documents: one per table and one per column, with deterministic ids.

A document id depends only on (database, generation, schema, table[, column]): handling the same
batch twice writes the same documents, and a new crawl never overwrites the documents readers
are still being served from the previous complete one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from catalog.identifiers import identifier_terms
from catalog.models import Table


class DocumentKind(StrEnum):
    TABLE = "table"
    COLUMN = "column"


def document_id(
    database_id: str, generation: int, schema: str, table: str, column: str | None = None
) -> str:
    key = json.dumps([database_id, generation, schema, table, column], ensure_ascii=False)
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Document:
    id: str
    kind: DocumentKind
    database_id: str
    generation: int
    # The table's place in its crawl's plan (sorted by schema, then name); columns share it.
    # Browsing pages by it, so a page costs the same however deep it is.
    ordinal: int
    schema: str
    table: str
    column: str | None
    table_type: str
    data_type: str | None = None
    comment: str | None = None
    # Everything shown to a reader (columns, keys, indexes, sizes); stored, not searched.
    payload: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.column if self.column is not None else self.table

    @property
    def name_terms(self) -> list[str]:
        return identifier_terms(self.name)

    @property
    def scope(self) -> str:
        """One keyword that says which database generation a document belongs to."""
        return generation_scope(self.database_id, self.generation)


def generation_scope(database_id: str, generation: int) -> str:
    return f"{database_id}:{generation}"


def table_payload(table: Table) -> dict[str, Any]:
    payload = asdict(table)
    payload["type"] = str(table.type)
    return payload


def documents_for_table(
    database_id: str, generation: int, ordinal: int, table: Table
) -> list[Document]:
    """The table's document followed by one document per column."""
    docs = [
        Document(
            id=document_id(database_id, generation, table.schema, table.name),
            kind=DocumentKind.TABLE,
            database_id=database_id,
            generation=generation,
            ordinal=ordinal,
            schema=table.schema,
            table=table.name,
            column=None,
            table_type=str(table.type),
            comment=table.comment,
            payload=table_payload(table),
        )
    ]
    for column in table.columns:
        docs.append(
            Document(
                id=document_id(database_id, generation, table.schema, table.name, column.name),
                kind=DocumentKind.COLUMN,
                database_id=database_id,
                generation=generation,
                ordinal=ordinal,
                schema=table.schema,
                table=table.name,
                column=column.name,
                table_type=str(table.type),
                data_type=column.data_type,
                comment=column.comment,
                payload=asdict(column),
            )
        )
    return docs


def document_to_dict(document: Document) -> dict[str, Any]:
    """Every field of a document, JSON-ready, for adapters that store the whole document."""
    return asdict(document)


def document_from_dict(values: dict[str, Any]) -> Document:
    kept = {f.name: values[f.name] for f in fields(Document)}
    return Document(**{**kept, "kind": DocumentKind(kept["kind"])})

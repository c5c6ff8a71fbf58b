"""The change history's detail: what differs in one relation between two crawls."""

from __future__ import annotations

from catalog.documents import table_payload
from catalog.models import Column, ForeignKey, Index, Table, TableType
from catalog.schema_diff import describe


def column(name: str, data_type: str = "integer", **attributes: object) -> Column:
    return Column(**{"name": name, "position": 1, "data_type": data_type, "nullable": True,
                     **attributes})  # fmt: skip


BEFORE = Table(
    "sales",
    "orders",
    TableType.TABLE,
    columns=(column("id", nullable=False), column("total", "numeric"), column("note", "text")),
    comment="One row per order",
    primary_key=("id",),
    foreign_keys=(ForeignKey("orders_customer", ("id",), "sales", "customers", ("id",)),),
    indexes=(Index("orders_total", ("total",), False, False, "CREATE INDEX orders_total …"),),
)


def test_the_same_definition_shows_no_difference():
    assert describe(table_payload(BEFORE), table_payload(BEFORE)) == {}


def test_every_kind_of_difference_is_named_with_what_it_was_and_is():
    after = Table(
        "sales",
        "orders",
        TableType.TABLE,
        columns=(
            column("id", nullable=False),
            column("total", "numeric(12,2)", nullable=False, default="0", comment="gross"),
            column("placed_at", "timestamp"),
        ),
        comment="Orders",
        primary_key=("id", "total"),
        indexes=(
            Index("orders_total", ("total", "id"), False, False, "CREATE INDEX orders_total …"),
            Index("orders_placed", ("placed_at",), False, False, "CREATE INDEX orders_placed …"),
        ),
    )
    assert describe(table_payload(BEFORE), table_payload(after)) == {
        "columns": {
            "added": ["placed_at"],
            "dropped": ["note"],
            "changed": [
                {
                    "name": "total",
                    "data_type": ["numeric", "numeric(12,2)"],
                    "nullable": [True, False],
                    "default": [None, "0"],
                    "comment": [None, "gross"],
                }
            ],
        },
        "primary_key": [["id"], ["id", "total"]],
        "foreign_keys": {"dropped": ["orders_customer"]},
        "indexes": {"added": ["orders_placed"], "changed": ["orders_total"]},
        "comment": ["One row per order", "Orders"],
    }


def test_a_view_shows_its_new_definition():
    view = Table("sales", "big_orders", TableType.VIEW, definition="SELECT 1")
    changed = Table("sales", "big_orders", TableType.VIEW, definition="SELECT 2")
    assert describe(table_payload(view), table_payload(changed)) == {
        "definition": ["SELECT 1", "SELECT 2"]
    }

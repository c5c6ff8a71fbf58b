"""A realistic two-database catalog for the relevance suite: named tables that queries look for,
among generated look-alikes built from the same words (as real schemas are).

About 250 tables and 1,600 documents: quick to index, large enough that plan order alone never
ranks the right table first.
"""

from __future__ import annotations

from random import Random

from catalog.documents import Document, generation_scope
from catalog.models import Column, Table, TableType
from catalog.search import SearchIndex
from tests.search_helpers import crawl

SHOP = "shop"
WAREHOUSE = "warehouse"
GENERATION = 1
SCOPES = (generation_scope(SHOP, GENERATION), generation_scope(WAREHOUSE, GENERATION))

Spec = tuple[str, TableType, tuple[str, ...]]  # name, type, columns as "name:type"

_T, _V, _MV = TableType.TABLE, TableType.VIEW, TableType.MATERIALIZED_VIEW

NAMED: dict[str, dict[str, list[Spec]]] = {
    SHOP: {
        "sales": [
            ("customer_orders", _T, (
                "customer_id:bigint", "order_date:date", "total_amount:numeric", "status:text",
            )),
            ("customer_orders_archive", _T, (
                "customer_id:bigint", "order_date:date", "archived_at:timestamptz",
            )),
            ("d_ab_customer_orders", _T, ("customer_id:bigint", "load_batch:integer")),
            ("d_ab_customer_orders_v2", _T, ("customer_id:bigint", "load_batch:integer")),
            ("d_ab_customer_orders_2019", _T, ("customer_id:bigint",)),
            ("order_items", _T, (
                "order_id:bigint", "product_id:bigint", "quantity:integer", "unit_price:numeric",
            )),
            ("orders_2019", _T, ("order_date:date",)),
            ("orders_2020", _T, ("order_date:date",)),
            ("orders_2021", _T, ("order_date:date",)),
            ("SalesRegion", _T, ("regionId:integer", "regionName:text", "countryCode:text")),
            ("sales_targets", _T, ("quarter:text", "target_amount:numeric")),
            ("fct_daily_sales", _V, ("sale_day:date", "revenue:numeric")),
            ("pricelist", _T, ("sku:text", "list_price:numeric")),
        ],
        "crm": [
            ("customers", _T, (
                "email:text", "first_name:text", "last_name:text", "phoneNumber:text",
                "createdAt:timestamptz",
            )),
            ("customer_emails", _V, ("customer_id:bigint", "email_address:text")),
            ("customer_addresses", _T, ("customer_id:bigint", "street:text", "postal_code:text")),
            ("accountManagers", _T, ("managerName:text", "region:text")),
            ("email_campaigns", _T, ("subject:text", "sent_at:timestamptz")),
            ("leads", _T, ("email_addr:text", "lead_source:text")),
            ("userprofiles", _T, ("display_name:text", "avatar_url:text")),
        ],
        "billing": [
            ("invoices", _T, ("invoice_number:text", "due_date:date", "amount_due:numeric")),
            ("invoice_lines", _T, ("invoice_id:bigint", "line_amount:numeric")),
            ("payments", _T, ("payment_method:text", "paidAt:timestamptz", "amount_paid:numeric")),
            ("refunds", _T, ("payment_id:bigint", "reason:text")),
            ("currency_exchange_rates", _T, ("currency_pair:text", "rate:numeric", "as_of:date")),
            ("subscriptionPlans", _T, ("planName:text", "monthlyPrice:numeric")),
        ],
        "analytics": [
            ("page_views", _T, ("url_path:text", "viewed_at:timestamptz")),
            ("sessions", _T, ("session_key:text", "started_at:timestamptz")),
            ("mv_monthly_revenue", _MV, ("month:date", "revenue:numeric")),
            ("clickstream_2023", _T, ("click_target:text", "clicked_at:timestamptz")),
            ("ab_test_assignments", _T, ("experiment_key:text", "variant:text")),
        ],
        "Ops Data": [
            ("my table", _T, ("a column:text", "it's:text")),
            ("größe", _T, ("maß:numeric",)),
            ("Monthly Report 2023", _V, ("line:text",)),
            ("HTTPServerLogs", _T, ("statusCode:integer", "requestPath:text")),
        ],
    },
    WAREHOUSE: {
        "inventory": [
            ("products", _T, ("sku:text", "product_name:text", "category_id:bigint")),
            ("product_categories", _T, ("category_name:text",)),
            ("stock_levels", _T, ("sku:text", "on_hand:integer")),
            ("warehouses", _T, ("warehouse_code:text", "city:text")),
            ("suppliers", _T, ("supplier_name:text", "contact_email:text")),
            ("purchase_orders", _T, ("supplier_id:bigint", "ordered_on:date")),
        ],
        "logistics": [
            ("shipments", _T, ("carrier:text", "tracking_number:text", "shippedAt:timestamptz")),
            ("shipment_events", _T, ("shipment_id:bigint", "event_type:text")),
            ("driverlicense", _T, ("license_class:text", "expires_on:date")),
            ("drivers", _T, ("driver_name:text", "license_number:text")),
            ("vehicles", _T, ("vin:text", "plate:text")),
            ("delivery_routes", _T, ("route_code:text", "stops:integer")),
            ("license_plates", _T, ("plate:text", "issued_on:date")),
        ],
        "hr": [
            ("employees", _T, (
                "employeeId:bigint", "hire_date:date", "salary:numeric", "department_id:bigint",
            )),
            ("departments", _T, ("department_name:text",)),
            ("payroll_2024", _T, ("employeeId:bigint", "gross_pay:numeric")),
            ("timesheets", _T, ("employeeId:bigint", "hours:numeric")),
        ],
        "staging": [
            ("stg_customers", _T, ("customer_ref:text",)),
            ("stg_orders", _T, ("order_ref:text",)),
            ("tmp_orders_backup", _T, ("order_ref:text",)),
            ("raw_events", _T, ("payload:jsonb",)),
        ],
    },
}  # fmt: skip

# Look-alikes: the same words, combined as data teams name things.
_ENTITIES = [
    "customer", "order", "invoice", "payment", "shipment", "product", "sales", "event",
    "account", "user", "session", "vendor", "supplier", "employee", "inventory", "price",
    "campaign", "contract", "subscription", "ticket", "refund", "ledger", "budget", "store",
]  # fmt: skip
_DETAILS = ["item", "line", "detail", "summary", "status", "note", "metric", "snapshot", "log"]
_SUFFIXES = ["_history", "_daily", "_monthly", "_2018", "_2022", "_agg", "_raw", "_tmp"]
_COLUMNS = [
    "id:bigint", "name:text", "code:text", "status:text", "created_at:timestamptz",
    "updated_at:timestamptz", "description:text", "notes:text", "amount:numeric",
    "is_active:boolean", "external_id:uuid", "version:integer", "metadata:jsonb",
]  # fmt: skip
_LOOK_ALIKES_PER_SCHEMA = 24


def spec_table(
    schema: str, name: str, kind: TableType, columns: tuple[str, ...], **more: object
) -> Table:
    """A table from columns written `name:type`; the first is not nullable."""
    typed = [column.split(":", 1) for column in columns]
    return Table(
        schema=schema,
        name=name,
        type=kind,
        columns=tuple(
            Column(name=column, position=i + 1, data_type=data_type, nullable=i > 0)
            for i, (column, data_type) in enumerate(typed)
        ),
        **more,
    )


def _table(schema: str, name: str, kind: TableType, columns: tuple[str, ...]) -> Table:
    return spec_table(schema, name, kind, ("id:bigint", *columns))


def _look_alikes(rng: Random, schema: str, taken: set[str]) -> list[Table]:
    tables = []
    while len(tables) < _LOOK_ALIKES_PER_SCHEMA:
        name = rng.choice(_ENTITIES)
        if rng.random() < 0.7:
            name += "_" + rng.choice(_DETAILS)
        if rng.random() < 0.4:
            name += rng.choice(_SUFFIXES)
        if name in taken:
            continue
        taken.add(name)
        columns = tuple(c for c in rng.sample(_COLUMNS, rng.randint(3, 7)) if c != "id:bigint")
        tables.append(_table(schema, name, _T, columns))
    return tables


def relevance_tables() -> dict[str, list[Table]]:
    """Each database's tables in plan order (schema, then name), the way a crawl lists them."""
    rng = Random(20261127)
    databases: dict[str, list[Table]] = {}
    for database_id, schemas in NAMED.items():
        taken = {name for specs in schemas.values() for name, _, _ in specs}
        tables = [
            table
            for schema, specs in schemas.items()
            for table in [
                *(_table(schema, *spec) for spec in specs),
                *_look_alikes(rng, schema, taken),
            ]
        ]
        databases[database_id] = sorted(tables, key=lambda t: (t.schema, t.name))
    return databases


async def load_databases(index: SearchIndex, databases: dict[str, list[Table]]) -> list[Document]:
    """Write and publish each database's tables; returns every document written."""
    written: list[Document] = []
    for database_id, tables in databases.items():
        written += await crawl(index, database_id, GENERATION, tables)
    return written


async def load_relevance_catalog(index: SearchIndex) -> list[Document]:
    """Write and publish both databases; returns every document written."""
    return await load_databases(index, relevance_tables())

"""What people type, and the one result each of them means (None: nothing should come back).

Results are written `database:schema.table` or `database:schema.table.column`.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.documents import DocumentKind


@dataclass(frozen=True)
class RelevanceQuery:
    text: str
    expected: str | None
    category: str
    kind: DocumentKind | None = None
    schemas: tuple[str, ...] = ()


_TABLE, _COLUMN = DocumentKind.TABLE, DocumentKind.COLUMN


def _q(
    category: str, text: str, expected: str | None, kind: DocumentKind | None = None, **filters
) -> RelevanceQuery:
    return RelevanceQuery(text, expected, category, kind, **filters)


QUERIES: list[RelevanceQuery] = [
    # The exact name, among look-alikes.
    _q("exact", "customer_orders", "shop:sales.customer_orders"),
    _q("exact", "d_ab_customer_orders", "shop:sales.d_ab_customer_orders"),
    _q("exact", "invoices", "shop:billing.invoices"),
    _q("exact", "driverlicense", "warehouse:logistics.driverlicense"),
    _q("exact", "page_views", "shop:analytics.page_views"),
    _q("exact", "mv_monthly_revenue", "shop:analytics.mv_monthly_revenue"),
    _q("exact", "stock_levels", "warehouse:inventory.stock_levels"),
    _q("exact", "my table", "shop:Ops Data.my table"),
    _q("exact", "größe", "shop:Ops Data.größe"),
    _q("exact", "sessions", "shop:analytics.sessions", _TABLE),
    # Parts of snake_case names, in any order.
    _q("parts", "monthly revenue", "shop:analytics.mv_monthly_revenue"),
    _q("parts", "exchange rates", "shop:billing.currency_exchange_rates"),
    _q("parts", "invoice lines", "shop:billing.invoice_lines"),
    _q("parts", "purchase orders", "warehouse:inventory.purchase_orders"),
    _q("parts", "monthly report", "shop:Ops Data.Monthly Report 2023"),
    _q("parts", "routes delivery", "warehouse:logistics.delivery_routes"),
    _q("parts", "test assignments", "shop:analytics.ab_test_assignments"),
    _q("parts", "orders archive", "shop:sales.customer_orders_archive"),
    # camelCase and PascalCase parts.
    _q("camelCase", "region", "shop:sales.SalesRegion", _TABLE),
    _q("camelCase", "region name", "shop:sales.SalesRegion.regionName", _COLUMN),
    _q("camelCase", "phone number", "shop:crm.customers.phoneNumber"),
    _q("camelCase", "account managers", "shop:crm.accountManagers"),
    _q("camelCase", "subscription plans", "shop:billing.subscriptionPlans"),
    _q("camelCase", "paid at", "shop:billing.payments.paidAt"),
    _q("camelCase", "http server", "shop:Ops Data.HTTPServerLogs"),
    _q("camelCase", "accountmanagers", "shop:crm.accountManagers"),
    _q("camelCase", "monthly price", "shop:billing.subscriptionPlans.monthlyPrice"),
    # Digits are parts of their own.
    _q("digits", "orders 2019", "shop:sales.orders_2019"),
    _q("digits", "orders 2020", "shop:sales.orders_2020"),
    _q("digits", "orders2021", "shop:sales.orders_2021"),
    _q("digits", "payroll 2024", "warehouse:hr.payroll_2024"),
    _q("digits", "clickstream 2023", "shop:analytics.clickstream_2023"),
    _q("digits", "report 2023", "shop:Ops Data.Monthly Report 2023"),
    # Prefixes, no wildcards.
    _q("prefix", "suppl", "warehouse:inventory.suppliers", _TABLE),
    _q("prefix", "vehic", "warehouse:logistics.vehicles"),
    _q("prefix", "timesh", "warehouse:hr.timesheets"),
    _q("prefix", "warehou", "warehouse:inventory.warehouses", _TABLE),
    _q("prefix", "clicks", "shop:analytics.clickstream_2023"),
    _q("prefix", "tracking", "warehouse:logistics.shipments.tracking_number"),
    _q("prefix", "exchange", "shop:billing.currency_exchange_rates"),
    # One or two typos.
    _q("typo", "custmer_ordrs", "shop:sales.customer_orders"),
    _q("typo", "invocies", "shop:billing.invoices"),
    _q("typo", "shipmnets", "warehouse:logistics.shipments"),
    _q("typo", "custmers", "shop:crm.customers", _TABLE),
    _q("typo", "departmnts", "warehouse:hr.departments"),
    _q("typo", "paymnts", "shop:billing.payments", _TABLE),
    _q("typo", "subscripton plans", "shop:billing.subscriptionPlans"),
    _q("typo", "empolyees", "warehouse:hr.employees"),
    _q("typo", "vehciles", "warehouse:logistics.vehicles"),
    _q("typo", "suplliers", "warehouse:inventory.suppliers", _TABLE),
    _q("typo", "phonenumbr", "shop:crm.customers.phoneNumber", _COLUMN),
    _q("typo", "trackng numbr", "warehouse:logistics.shipments.tracking_number"),
    # A substring inside a word.
    _q("substring", "stream", "shop:analytics.clickstream_2023"),
    _q("substring", "profiles", "shop:crm.userprofiles"),
    _q("substring", "sheets", "warehouse:hr.timesheets"),
    _q("substring", "verlicense", "warehouse:logistics.driverlicense"),
    # Columns, found by their own names, in any case.
    _q("column", "email", "shop:crm.customers.email"),
    _q("column", "tracking_number", "warehouse:logistics.shipments.tracking_number"),
    _q("column", "hire date", "warehouse:hr.employees.hire_date"),
    _q("column", "unit price", "shop:sales.order_items.unit_price"),
    _q("column", "TOTAL_AMOUNT", "shop:sales.customer_orders.total_amount"),
    _q("column", "EmployeeId", "warehouse:hr.employees.employeeId", _COLUMN),
    _q("column", "vin", "warehouse:logistics.vehicles.vin"),
    _q("column", "license number", "warehouse:logistics.drivers.license_number"),
    # Case never matters.
    _q("case", "DRIVERLICENSE", "warehouse:logistics.driverlicense"),
    _q("case", "salesregion", "shop:sales.SalesRegion"),
    _q("case", "Customer Orders", "shop:sales.customer_orders"),
    _q("case", "HTTPSERVERLOGS", "shop:Ops Data.HTTPServerLogs"),
    # Filters narrow what may answer.
    _q("filter", "orders", "warehouse:staging.stg_orders", _TABLE, schemas=("staging",)),
    _q("filter", "license", "warehouse:logistics.drivers.license_number", _COLUMN),
    # Nothing should come back.
    _q("nothing", "xylophone", None),
    _q("nothing", "kubernetes pods", None),
    _q("nothing", "payroll 2019", None),
    _q("nothing", "qq", None),
    _q("nothing", "orders 1999", None),
]

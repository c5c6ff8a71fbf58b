"""What people type in the one search box over tables and columns together (kind=None), and the
one result each of them means, in the catalog of tests/relevance/any_catalog.py.

Results are written `database:schema.table` or `database:schema.table.column`; None: nothing
should come back.
"""

from __future__ import annotations

from tests.relevance.queries import RelevanceQuery


def _q(category: str, text: str, expected: str | None) -> RelevanceQuery:
    return RelevanceQuery(text, expected, category)


ANY_QUERIES: list[RelevanceQuery] = [
    # The exact name of a table or column, among names made of the same words.
    _q("exact", "invoice", "shop2:store.invoice"),
    _q("exact", "dept_emp", "hr:employees.dept_emp"),
    _q("exact", "dept_manager", "hr:employees.dept_manager"),
    _q("exact", "visit_occurrence", "clinic:omop.visit_occurrence"),
    _q("exact", "cart_item", "shop2:store.cart_item"),
    _q("exact", "lab_results", "clinic:ehr.lab_results"),
    _q("exact", "payment_txn", "shop2:store.payment_txn"),
    _q("exact", "mv_product_sales", "shop2:store.mv_product_sales"),
    _q("exact", "emp_details_view", "hr:hr.emp_details_view"),
    _q("exact", "apgar_5min", "clinic:maternity.child.apgar_5min"),
    _q("exact", "concept_name", "clinic:omop.concept.concept_name"),
    # A table's name that is also a column (or a column's word) in many tables: the table.
    _q("table-first", "customer", "shop2:store.customer"),
    _q("table-first", "currency", "shop2:store.currency"),
    _q("table-first", "carrier", "shop2:fulfillment.carrier"),
    _q("table-first", "ward", "clinic:ops.ward"),
    _q("table-first", "product", "shop2:store.product"),
    _q("table-first", "payment", "shop2:store.payment"),
    _q("table-first", "shipment", "shop2:fulfillment.shipment"),
    # The plural of a singular name, or the singular of a plural one.
    _q("plural", "orders", "shop2:store.order"),
    _q("plural", "companies", "shop2:b2b.company"),
    _q("plural", "boxes", "shop2:fulfillment.box"),
    _q("plural", "categories", "shop2:store.category"),
    _q("plural", "addresses", "shop2:store.address"),
    _q("plural", "job histories", "hr:hr.job_history"),
    _q("plural", "employee", "hr:employees.employees"),
    _q("plural", "department", "hr:employees.departments"),
    _q("plural", "patient", "clinic:ehr.patients"),
    _q("plural", "diagnosis", "clinic:ehr.diagnoses"),
    _q("plural", "people", "clinic:omop.person"),
    _q("plural", "children", "clinic:maternity.child"),
    _q("plural", "mothers", "clinic:maternity.mother"),
    # Full words for an abbreviated name, or the reverse.
    _q("abbreviation", "order quantity", "shop2:store.order_item.order_qty"),
    _q("abbreviation", "department name", "hr:employees.departments.dept_name"),
    _q("abbreviation", "transaction timestamp", "shop2:store.payment_txn.txn_ts"),
    _q("abbreviation", "cust", "shop2:store.customer"),
    _q("abbreviation", "account number", "hr:payroll.bank_acct.acct_num"),
    _q("abbreviation", "message body", "clinic:ehr.patient_msg.msg_body"),
    _q("abbreviation", "store configuration", "shop2:admin.store_cfg"),
    _q("abbreviation", "organization unit", "hr:hr.org_unit"),
    _q("abbreviation", "discount amount", "shop2:store.coupon.discount_amt"),
    _q("abbreviation", "invoice number", "shop2:store.invoice.invoice_num"),
    _q("abbreviation", "product description", "shop2:store.product.product_desc"),
    _q("abbreviation", "pay date", "hr:payroll.paycheck.pay_dt"),
    _q("abbreviation", "home address", "clinic:ehr.patients.home_addr"),
    _q("abbreviation", "medical record number", "clinic:ehr.patients.mrn"),
    _q("abbreviation", "users", "shop2:admin.usr"),
    # A partitioned table and its columns: the parent, never one of its partitions.
    _q("partition", "event", "shop2:analytics.event"),
    _q("partition", "events", "shop2:analytics.event"),
    _q("partition", "event id", "shop2:analytics.event.event_id"),
    _q("partition", "event_type", "shop2:analytics.event.event_type"),
    _q("partition", "vital sign", "clinic:monitoring.vital_sign"),
    _q("partition", "heart rate", "clinic:monitoring.vital_sign.heart_rate"),
    _q("partition", "spo2", "clinic:monitoring.vital_sign.spo2"),
    _q("partition", "audit_log", "hr:audit.audit_log"),
    _q("partition", "changed by", "hr:audit.audit_log.changed_by"),
    # A table's word and a column's word, in either order.
    _q("table-column", "invoice notes", "shop2:store.invoice.notes"),
    _q("table-column", "notes invoice", "shop2:store.invoice.notes"),
    _q("table-column", "patient birth date", "clinic:ehr.patients.birth_date"),
    _q("table-column", "employee hire date", "hr:employees.employees.hire_date"),
    _q("table-column", "order status", "shop2:store.order.status"),
    _q("table-column", "status shipment", "shop2:fulfillment.shipment.status"),
    _q("table-column", "customer email", "shop2:store.customer.email"),
    _q("table-column", "doctors email", "clinic:ehr.doctors.email"),
    _q("table-column", "product name", "shop2:store.product.name"),
    _q("table-column", "prescription dose", "clinic:ehr.prescriptions.dose"),
    # A column of a base table that a view selects too: the base table's.
    _q("base-over-view", "job_title", "hr:hr.jobs.job_title"),
    _q("base-over-view", "country_name", "hr:hr.countries.country_name"),
    _q("base-over-view", "region name", "hr:hr.regions.region_name"),
    _q("base-over-view", "state province", "hr:hr.locations.state_province"),
    _q("base-over-view", "total_amt", "shop2:store.order.total_amt"),
    _q("base-over-view", "rating", "shop2:store.review.rating"),
    _q("base-over-view", "mrn", "clinic:ehr.patients.mrn"),
    _q("base-over-view", "tracking num", "shop2:fulfillment.shipment.tracking_num"),
    _q("base-over-view", "gross amt", "hr:payroll.paycheck.gross_amt"),
    # One typo in a table's or a column's name.
    _q("typo", "emplyees", "hr:employees.employees"),
    _q("typo", "prescriptons", "clinic:ehr.prescriptions"),
    _q("typo", "admisions", "clinic:ehr.admissions"),
    _q("typo", "invocie", "shop2:store.invoice"),
    _q("typo", "shipmnet", "shop2:fulfillment.shipment"),
    _q("typo", "departmnets", "hr:employees.departments"),
    _q("typo", "apointments", "clinic:ehr.appointments"),
    _q("typo", "visit_ocurrence", "clinic:omop.visit_occurrence"),
    _q("typo", "dischrage summaries", "clinic:ehr.discharge_summaries"),
    _q("typo", "hrie date", "hr:employees.employees.hire_date"),
    # The start of a long name.
    _q("prefix", "admis", "clinic:ehr.admissions"),
    _q("prefix", "prescr", "clinic:ehr.prescriptions"),
    _q("prefix", "immuniz", "clinic:ehr.immunizations"),
    _q("prefix", "visit_occ", "clinic:omop.visit_occurrence"),
    _q("prefix", "condition_occ", "clinic:omop.condition_occurrence"),
    _q("prefix", "discharge_summ", "clinic:ehr.discharge_summaries"),
    _q("prefix", "benefit_enr", "hr:payroll.benefit_enrollment"),
    _q("prefix", "tax_withh", "hr:payroll.tax_withholding"),
    # Nothing should come back.
    _q("nothing", "zebra crossing", None),
    _q("nothing", "qwxzvk", None),
    _q("nothing", "kubernetes helm chart", None),
    _q("nothing", "flux capacitor", None),
]

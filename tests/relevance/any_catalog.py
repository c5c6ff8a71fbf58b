"""A three-database catalog for the `kind=any` relevance queries (tests/relevance/any_queries.py):
an HR database (the MySQL `employees` sample and Oracle's HR sample), an e-commerce database and
a hospital database (an EHR, the OMOP CDM, maternity and bedside monitoring), with monthly
partitions, views over base tables, materialized views and generated look-alikes made of the
same words.

Independent of tests/relevance/catalog.py: other database ids, other tables.
"""

from __future__ import annotations

from random import Random

from catalog.documents import Document, generation_scope
from catalog.models import Table, TableType
from catalog.search import SearchIndex
from tests.relevance.catalog import GENERATION, load_databases, spec_table

HR = "hr"
SHOP2 = "shop2"
CLINIC = "clinic"
ANY_SCOPES = tuple(generation_scope(database, GENERATION) for database in (HR, SHOP2, CLINIC))

Spec = tuple[str, TableType, tuple[str, ...]]  # name, type, columns as "name:type"

_T, _V, _MV = TableType.TABLE, TableType.VIEW, TableType.MATERIALIZED_VIEW
_P = TableType.PARTITIONED_TABLE

NAMED: dict[str, dict[str, list[Spec]]] = {
    HR: {
        # The MySQL `employees` sample database.
        "employees": [
            ("employees", _T, (
                "emp_no:integer", "birth_date:date", "first_name:varchar(14)",
                "last_name:varchar(16)", "gender:char(1)", "hire_date:date",
            )),
            ("departments", _T, ("dept_no:char(4)", "dept_name:varchar(40)")),
            ("dept_emp", _T, (
                "emp_no:integer", "dept_no:char(4)", "from_date:date", "to_date:date",
            )),
            ("dept_manager", _T, (
                "emp_no:integer", "dept_no:char(4)", "from_date:date", "to_date:date",
            )),
            ("titles", _T, (
                "emp_no:integer", "title:varchar(50)", "from_date:date", "to_date:date",
            )),
            ("salaries", _T, (
                "emp_no:integer", "salary:integer", "from_date:date", "to_date:date",
            )),
            ("current_dept_emp", _V, (
                "emp_no:integer", "dept_no:char(4)", "from_date:date", "to_date:date",
            )),
            ("dept_emp_latest_date", _V, ("emp_no:integer", "from_date:date", "to_date:date")),
        ],
        # Oracle's HR sample, keyed on the employees sample's emp_no and dept_no.
        "hr": [
            ("regions", _T, ("region_id:integer", "region_name:varchar(25)")),
            ("countries", _T, (
                "country_id:char(2)", "country_name:varchar(40)", "region_id:integer",
            )),
            ("locations", _T, (
                "location_id:integer", "street_address:varchar(40)", "postal_code:varchar(12)",
                "city:varchar(30)", "state_province:varchar(25)", "country_id:char(2)",
            )),
            ("jobs", _T, (
                "job_id:varchar(10)", "job_title:varchar(35)", "min_salary:integer",
                "max_salary:integer",
            )),
            ("job_history", _T, (
                "emp_no:integer", "start_date:date", "end_date:date", "job_id:varchar(10)",
                "dept_no:char(4)",
            )),
            ("org_unit", _T, (
                "org_unit_id:integer", "org_unit_name:varchar(60)", "parent_org_unit_id:integer",
                "dept_no:char(4)", "location_id:integer", "cost_center:varchar(10)",
            )),
            ("emp_details_view", _V, (
                "emp_no:integer", "job_id:varchar(10)", "dept_no:char(4)", "location_id:integer",
                "country_id:char(2)", "first_name:varchar(14)", "last_name:varchar(16)",
                "dept_name:varchar(40)", "job_title:varchar(35)", "city:varchar(30)",
                "state_province:varchar(25)", "country_name:varchar(40)",
                "region_name:varchar(25)",
            )),
        ],
        "payroll": [
            ("pay_period", _T, (
                "pay_period_id:integer", "period_code:varchar(10)", "start_dt:date",
                "end_dt:date", "is_closed:boolean",
            )),
            ("paycheck", _T, (
                "paycheck_id:bigint", "emp_no:integer", "pay_period_id:integer", "pay_dt:date",
                "gross_amt:numeric(12,2)", "net_amt:numeric(12,2)", "tax_amt:numeric(12,2)",
                "check_num:varchar(20)",
            )),
            ("deduction", _T, (
                "deduction_id:bigint", "paycheck_id:bigint", "deduction_type:varchar(20)",
                "deduction_amt:numeric(12,2)", "is_pretax:boolean",
            )),
            ("bank_acct", _T, (
                "bank_acct_id:integer", "emp_no:integer", "bank_name:varchar(60)",
                "routing_num:char(9)", "acct_num:varchar(34)", "acct_type:varchar(10)",
                "is_primary:boolean",
            )),
            ("tax_withholding", _T, (
                "withholding_id:integer", "emp_no:integer", "tax_year:smallint",
                "filing_status:varchar(20)", "allowances:smallint",
                "extra_withholding_amt:numeric(10,2)",
            )),
            ("benefit_plan", _T, (
                "benefit_plan_id:integer", "plan_name:varchar(60)", "plan_type:varchar(20)",
                "employer_contrib_pct:numeric(5,2)", "emp_contrib_amt:numeric(10,2)",
            )),
            ("benefit_enrollment", _T, (
                "enrollment_id:integer", "emp_no:integer", "benefit_plan_id:integer",
                "coverage_level:varchar(20)", "enrolled_dt:date", "terminated_dt:date",
            )),
            ("timecard", _T, (
                "timecard_id:bigint", "emp_no:integer", "work_dt:date",
                "hours_worked:numeric(5,2)", "overtime_hrs:numeric(5,2)", "approved_by:integer",
            )),
            ("v_paycheck_summary", _V, (
                "emp_no:integer", "pay_period_id:integer", "gross_amt:numeric(12,2)",
                "net_amt:numeric(12,2)",
            )),
        ],
        "audit": [
            ("audit_log", _P, (
                "audit_log_id:bigint", "usr_name:varchar(60)", "action:varchar(10)",
                "table_name:varchar(63)", "record_id:bigint", "changed_by:varchar(60)",
                "changed_ts:timestamptz", "old_value:jsonb", "new_value:jsonb",
            )),
            ("login_history", _T, (
                "login_id:bigint", "usr_name:varchar(60)", "login_ts:timestamptz",
                "ip_addr:inet", "success:boolean",
            )),
        ],
    },
    SHOP2: {
        # Singular table names, as many ORMs create them.
        "store": [
            ("customer", _T, (
                "customer_id:bigint", "email:varchar(255)", "first_name:varchar(80)",
                "last_name:varchar(80)", "phone:varchar(30)", "default_address_id:bigint",
                "is_guest:boolean", "created_at:timestamptz",
            )),
            ("address", _T, (
                "address_id:bigint", "customer_id:bigint", "line1:varchar(120)",
                "line2:varchar(120)", "city:varchar(80)", "region:varchar(80)",
                "postal_code:varchar(16)", "country_code:char(2)", "is_default:boolean",
            )),
            ("category", _T, (
                "category_id:integer", "parent_category_id:integer", "category_name:varchar(80)",
                "slug:varchar(80)", "sort_order:integer",
            )),
            ("product", _T, (
                "product_id:bigint", "sku:varchar(32)", "name:varchar(200)", "product_desc:text",
                "category_id:integer", "supplier_id:integer", "list_price:numeric(12,2)",
                "weight_g:integer", "is_active:boolean", "created_at:timestamptz",
            )),
            ("supplier", _T, (
                "supplier_id:integer", "supplier_name:varchar(120)", "contact_email:varchar(255)",
                "phone:varchar(30)", "country_code:char(2)", "lead_time_days:smallint",
            )),
            ("currency", _T, (
                "currency_code:char(3)", "currency_name:varchar(40)", "symbol:varchar(4)",
                "minor_units:smallint",
            )),
            ("price_list", _T, (
                "price_list_id:bigint", "product_id:bigint", "currency:char(3)",
                "unit_price:numeric(12,2)", "valid_from:date", "valid_to:date",
            )),
            ("inventory", _T, (
                "inventory_id:bigint", "product_id:bigint", "location_code:varchar(16)",
                "qty_on_hand:integer", "qty_reserved:integer", "reorder_point:integer",
                "updated_at:timestamptz",
            )),
            ("cart", _T, (
                "cart_id:bigint", "customer_id:bigint", "session_id:uuid", "currency:char(3)",
                "subtotal_amt:numeric(12,2)", "created_at:timestamptz", "expires_at:timestamptz",
            )),
            ("cart_item", _T, (
                "cart_item_id:bigint", "cart_id:bigint", "product_id:bigint", "qty:integer",
                "unit_price:numeric(12,2)", "added_at:timestamptz",
            )),
            ("order", _T, (
                "order_id:bigint", "customer_id:bigint", "order_num:varchar(20)",
                "order_ts:timestamptz", "status:varchar(20)", "currency:char(3)",
                "subtotal_amt:numeric(12,2)", "tax_amt:numeric(12,2)",
                "shipping_amt:numeric(12,2)", "total_amt:numeric(12,2)",
                "coupon_code:varchar(32)", "ship_address_id:bigint", "bill_address_id:bigint",
                "notes:text",
            )),
            ("order_item", _T, (
                "order_item_id:bigint", "order_id:bigint", "product_id:bigint", "sku:varchar(32)",
                "order_qty:integer", "unit_price:numeric(12,2)", "line_discount:numeric(12,2)",
                "line_total:numeric(12,2)",
            )),
            ("payment", _T, (
                "payment_id:bigint", "order_id:bigint", "invoice_id:bigint",
                "payment_method:varchar(20)", "status:varchar(20)", "currency:char(3)",
                "amount:numeric(12,2)", "paid_at:timestamptz",
            )),
            ("payment_txn", _T, (
                "txn_id:bigint", "payment_id:bigint", "txn_type:varchar(12)",
                "txn_ts:timestamptz", "gateway_ref:varchar(64)", "response_code:varchar(8)",
                "amount:numeric(12,2)",
            )),
            ("refund", _T, (
                "refund_id:bigint", "payment_id:bigint", "order_id:bigint", "currency:char(3)",
                "refund_amt:numeric(12,2)", "reason:text", "refunded_at:timestamptz",
            )),
            ("invoice", _T, (
                "invoice_id:bigint", "invoice_num:varchar(20)", "order_id:bigint",
                "customer_id:bigint", "issue_dt:date", "due_dt:date", "currency:char(3)",
                "amount_due:numeric(12,2)", "status:varchar(20)", "notes:text",
            )),
            ("invoice_line", _T, (
                "invoice_line_id:bigint", "invoice_id:bigint", "order_item_id:bigint",
                "description:text", "qty:integer", "line_amt:numeric(12,2)",
            )),
            ("coupon", _T, (
                "coupon_id:integer", "coupon_code:varchar(32)", "discount_pct:numeric(5,2)",
                "discount_amt:numeric(12,2)", "valid_from:date", "valid_to:date",
                "max_uses:integer", "times_used:integer",
            )),
            ("review", _T, (
                "review_id:bigint", "product_id:bigint", "customer_id:bigint", "rating:smallint",
                "title:varchar(200)", "body:text", "is_verified:boolean",
                "created_at:timestamptz",
            )),
            ("wishlist", _T, (
                "wishlist_id:bigint", "customer_id:bigint", "product_id:bigint",
                "added_at:timestamptz",
            )),
            ("v_order_summary", _V, (
                "order_id:bigint", "customer_id:bigint", "order_ts:timestamptz",
                "status:varchar(20)", "total_amt:numeric(12,2)", "currency:char(3)",
            )),
            ("v_review_public", _V, (
                "review_id:bigint", "product_id:bigint", "rating:smallint", "title:varchar(200)",
                "body:text", "created_at:timestamptz",
            )),
            ("mv_product_sales", _MV, (
                "product_id:bigint", "sku:varchar(32)", "sales_month:date", "units_sold:bigint",
                "revenue_amt:numeric(14,2)",
            )),
        ],
        "fulfillment": [
            ("fulfillment_center", _T, (
                "center_id:integer", "center_code:varchar(8)", "city:varchar(80)",
                "country_code:char(2)", "timezone:varchar(40)",
            )),
            ("box", _T, (
                "box_id:integer", "box_code:varchar(12)", "length_cm:numeric(6,1)",
                "width_cm:numeric(6,1)", "height_cm:numeric(6,1)", "max_weight_g:integer",
                "unit_cost:numeric(8,2)",
            )),
            ("carrier", _T, (
                "carrier_id:integer", "carrier_code:varchar(12)", "carrier_name:varchar(80)",
                "tracking_url_template:text", "is_active:boolean",
            )),
            ("shipment", _T, (
                "shipment_id:bigint", "order_id:bigint", "center_id:integer",
                "carrier_id:integer", "service_level:varchar(20)", "tracking_num:varchar(40)",
                "status:varchar(20)", "ship_ts:timestamptz", "delivered_ts:timestamptz",
                "notes:text",
            )),
            ("shipment_package", _T, (
                "package_id:bigint", "shipment_id:bigint", "box_id:integer",
                "carrier:varchar(12)", "weight_g:integer", "label_url:text",
            )),
            ("shipment_event", _T, (
                "shipment_event_id:bigint", "shipment_id:bigint", "status_code:varchar(12)",
                "event_ts:timestamptz", "location_desc:text",
            )),
            ("pick_list", _T, (
                "pick_list_id:bigint", "center_id:integer", "picker_emp_id:integer",
                "status:varchar(20)", "created_ts:timestamptz",
            )),
            ("pick_list_line", _T, (
                "pick_list_line_id:bigint", "pick_list_id:bigint", "order_item_id:bigint",
                "sku:varchar(32)", "pick_qty:integer", "bin_code:varchar(16)",
            )),
            ("return_request", _T, (
                "return_id:bigint", "order_id:bigint", "customer_id:bigint", "reason:text",
                "carrier:varchar(12)", "rma_num:varchar(20)", "status:varchar(20)",
                "requested_at:timestamptz",
            )),
            ("rate_quote", _T, (
                "quote_id:bigint", "carrier:varchar(12)", "service_level:varchar(20)",
                "dest_postal_code:varchar(16)", "weight_g:integer", "quoted_amt:numeric(10,2)",
                "currency:char(3)",
            )),
            ("v_open_shipments", _V, (
                "shipment_id:bigint", "order_id:bigint", "carrier:varchar(80)",
                "tracking_num:varchar(40)", "ship_ts:timestamptz", "status:varchar(20)",
            )),
        ],
        "analytics": [
            ("event", _P, (
                "event_id:bigint", "event_ts:timestamptz", "event_type:text", "session_id:uuid",
                "customer_id:bigint", "page_url:text", "referrer:text", "device_type:text",
                "payload:jsonb",
            )),
            ("session", _T, (
                "session_id:uuid", "customer_id:bigint", "started_at:timestamptz",
                "ended_at:timestamptz", "landing_page:text", "utm_source:text",
                "utm_campaign:text",
            )),
            ("funnel_step", _T, (
                "funnel_id:integer", "step_num:smallint", "step_name:text", "match_rule:jsonb",
            )),
            ("mv_daily_sales", _MV, (
                "sales_dt:date", "order_cnt:bigint", "units_sold:bigint",
                "revenue_amt:numeric(14,2)", "currency:char(3)",
            )),
            ("report_top_customers", _V, (
                "customer:text", "order_cnt:bigint", "revenue_amt:numeric(14,2)",
                "last_order_ts:timestamptz",
            )),
        ],
        "admin": [
            ("usr", _T, (
                "usr_id:integer", "usr_name:varchar(60)", "email:varchar(255)", "pwd_hash:text",
                "is_admin:boolean", "last_login_ts:timestamptz",
            )),
            ("role", _T, ("role_id:integer", "role_name:varchar(40)", "descr:text")),
            ("usr_role", _T, ("usr_id:integer", "role_id:integer", "granted_at:timestamptz")),
            ("store_cfg", _T, (
                "cfg_key:varchar(80)", "cfg_value:text", "updated_by:integer",
                "updated_at:timestamptz",
            )),
            ("api_key", _T, (
                "api_key_id:integer", "usr_id:integer", "key_prefix:char(8)", "key_hash:text",
                "created_at:timestamptz", "revoked_at:timestamptz",
            )),
        ],
        "b2b": [
            ("company", _T, (
                "company_id:integer", "company_name:varchar(200)", "tax_num:varchar(20)",
                "hq_address:text", "country_code:char(2)", "credit_limit_amt:numeric(14,2)",
                "notes:text",
            )),
            ("company_contact", _T, (
                "contact_id:integer", "company_id:integer", "full_name:varchar(120)",
                "email:varchar(255)", "phone:varchar(30)", "position:varchar(60)",
            )),
            ("price_agreement", _T, (
                "agreement_id:integer", "company_id:integer", "product_id:bigint",
                "currency:char(3)", "agreed_price:numeric(12,2)", "valid_from:date",
                "valid_to:date",
            )),
            ("purchase_order", _T, (
                "po_id:bigint", "company_id:integer", "po_num:varchar(20)", "status:varchar(20)",
                "po_total:numeric(14,2)", "currency:char(3)", "submitted_ts:timestamptz",
            )),
            ("purchase_order_line", _T, (
                "po_line_id:bigint", "po_id:bigint", "product_id:bigint", "line_qty:integer",
                "unit_price:numeric(12,2)",
            )),
        ],
    },
    CLINIC: {
        # A hospital's EHR, with plural table names.
        "ehr": [
            ("patients", _T, (
                "patient_id:bigint", "mrn:varchar(12)", "first_name:varchar(80)",
                "last_name:varchar(80)", "birth_date:date", "sex:char(1)", "home_addr:text",
                "phone:varchar(30)", "primary_doctor_id:integer", "insurance_policy_id:bigint",
                "deceased_dt:date",
            )),
            ("admissions", _T, (
                "admission_id:bigint", "patient_id:bigint", "admit_ts:timestamp",
                "discharge_ts:timestamp", "admission_type:varchar(20)",
                "admit_source:varchar(40)", "ward:varchar(20)", "attending_doctor_id:integer",
            )),
            ("doctors", _T, (
                "doctor_id:integer", "npi:char(10)", "first_name:varchar(80)",
                "last_name:varchar(80)", "specialty_id:integer", "email:varchar(255)",
                "pager_num:varchar(12)",
            )),
            ("specialties", _T, ("specialty_id:integer", "specialty_name:varchar(80)")),
            ("appointments", _T, (
                "appointment_id:bigint", "patient_id:bigint", "doctor_id:integer",
                "appt_ts:timestamp", "duration_min:smallint", "reason:text",
                "status:varchar(20)", "room_num:varchar(8)", "notes:text",
            )),
            ("diagnoses", _T, (
                "diagnosis_id:bigint", "admission_id:bigint", "patient_id:bigint",
                "icd10_code:varchar(8)", "seq_num:smallint", "diagnosed_ts:timestamp",
            )),
            ("procedures", _T, (
                "procedure_id:bigint", "admission_id:bigint", "patient_id:bigint",
                "cpt_code:varchar(8)", "performed_ts:timestamp", "doctor_id:integer",
            )),
            ("prescriptions", _T, (
                "prescription_id:bigint", "patient_id:bigint", "admission_id:bigint",
                "doctor_id:integer", "drug_name:varchar(120)", "dose:numeric(10,3)",
                "dose_unit:varchar(12)", "route:varchar(20)", "frequency:varchar(20)",
                "start_dt:date", "end_dt:date",
            )),
            ("allergies", _T, (
                "allergy_id:bigint", "patient_id:bigint", "allergen:varchar(120)",
                "reaction:text", "severity:varchar(12)", "noted_dt:date",
            )),
            ("lab_orders", _T, (
                "lab_order_id:bigint", "patient_id:bigint", "admission_id:bigint",
                "ordering_doctor_id:integer", "ordered_ts:timestamp", "priority:varchar(10)",
                "specimen_type:varchar(20)",
            )),
            ("lab_results", _T, (
                "lab_result_id:bigint", "lab_order_id:bigint", "patient_id:bigint",
                "test_code:varchar(20)", "test_name:varchar(120)", "result_value:text",
                "result_unit:varchar(20)", "ref_range_low:numeric", "ref_range_high:numeric",
                "abnormal_flag:char(1)", "resulted_ts:timestamp",
            )),
            ("transfers", _T, (
                "transfer_id:bigint", "admission_id:bigint", "from_ward:varchar(20)",
                "to_ward:varchar(20)", "transfer_ts:timestamp",
            )),
            ("discharge_summaries", _T, (
                "summary_id:bigint", "admission_id:bigint", "author_doctor_id:integer",
                "summary_text:text", "signed_ts:timestamp",
            )),
            ("immunizations", _T, (
                "immunization_id:bigint", "patient_id:bigint", "vaccine_code:varchar(12)",
                "dose_seq:smallint", "administered_dt:date", "lot_num:varchar(20)",
            )),
            ("insurance_policies", _T, (
                "insurance_policy_id:bigint", "payer_name:varchar(120)",
                "policy_num:varchar(30)", "group_num:varchar(30)", "valid_from:date",
                "valid_to:date",
            )),
            ("patient_msg", _T, (
                "msg_id:bigint", "patient_id:bigint", "doctor_id:integer",
                "msg_subject:varchar(200)", "msg_body:text", "sent_ts:timestamp",
                "read_ts:timestamp",
            )),
            ("v_active_patients", _V, (
                "patient_id:bigint", "mrn:varchar(12)", "first_name:varchar(80)",
                "last_name:varchar(80)", "birth_date:date", "sex:char(1)",
            )),
            ("v_upcoming_appointments", _V, (
                "appointment_id:bigint", "patient_id:bigint", "doctor_id:integer",
                "appt_ts:timestamp", "reason:text",
            )),
            ("mv_ward_occupancy", _MV, (
                "ward_id:integer", "census_dt:date", "occupied_beds:integer",
                "total_beds:integer",
            )),
        ],
        # Hospital operations, with singular table names.
        "ops": [
            ("ward", _T, (
                "ward_id:integer", "ward_code:varchar(20)", "ward_name:varchar(80)",
                "floor_num:smallint", "bed_count:smallint", "ward_type:varchar(20)",
            )),
            ("bed", _T, (
                "bed_id:integer", "ward_id:integer", "bed_label:varchar(8)",
                "is_isolation:boolean", "status:varchar(12)",
            )),
            ("staff", _T, (
                "staff_id:integer", "first_name:varchar(80)", "last_name:varchar(80)",
                "role:varchar(40)", "ward:varchar(20)", "email:varchar(255)",
                "employed_since:date",
            )),
            ("shift", _T, (
                "shift_id:bigint", "staff_id:integer", "ward:varchar(20)",
                "shift_start_ts:timestamp", "shift_end_ts:timestamp",
            )),
            ("supply_item", _T, (
                "item_id:integer", "item_code:varchar(20)", "item_desc:text",
                "unit_of_measure:varchar(12)", "reorder_qty:integer",
            )),
            ("supply_order", _T, (
                "supply_order_id:bigint", "ward:varchar(20)", "item_id:integer",
                "req_qty:integer", "requested_ts:timestamp", "status:varchar(12)",
            )),
            ("on_call_roster", _T, (
                "roster_id:bigint", "doctor_id:integer", "specialty_id:integer",
                "on_call_dt:date",
            )),
        ],
        # The OMOP common data model (a subset of its tables and columns).
        "omop": [
            ("person", _T, (
                "person_id:bigint", "gender_concept_id:integer", "year_of_birth:integer",
                "month_of_birth:integer", "day_of_birth:integer", "birth_datetime:timestamp",
                "race_concept_id:integer", "ethnicity_concept_id:integer", "location_id:bigint",
                "provider_id:bigint", "care_site_id:bigint", "person_source_value:varchar(50)",
            )),
            ("visit_occurrence", _T, (
                "visit_occurrence_id:bigint", "person_id:bigint", "visit_concept_id:integer",
                "visit_start_date:date", "visit_end_date:date", "visit_type_concept_id:integer",
                "provider_id:bigint", "care_site_id:bigint",
            )),
            ("condition_occurrence", _T, (
                "condition_occurrence_id:bigint", "person_id:bigint",
                "condition_concept_id:integer", "condition_start_date:date",
                "condition_end_date:date", "condition_type_concept_id:integer",
                "visit_occurrence_id:bigint",
            )),
            ("drug_exposure", _T, (
                "drug_exposure_id:bigint", "person_id:bigint", "drug_concept_id:integer",
                "drug_exposure_start_date:date", "drug_exposure_end_date:date",
                "quantity:numeric", "days_supply:integer", "sig:text",
                "route_concept_id:integer", "visit_occurrence_id:bigint",
            )),
            ("measurement", _T, (
                "measurement_id:bigint", "person_id:bigint", "measurement_concept_id:integer",
                "measurement_date:date", "value_as_number:numeric", "unit_concept_id:integer",
                "range_low:numeric", "range_high:numeric",
            )),
            ("observation", _T, (
                "observation_id:bigint", "person_id:bigint", "observation_concept_id:integer",
                "observation_date:date", "value_as_string:varchar(60)",
            )),
            ("provider", _T, (
                "provider_id:bigint", "provider_name:varchar(255)", "npi:varchar(20)",
                "specialty_concept_id:integer", "care_site_id:bigint",
            )),
            ("care_site", _T, (
                "care_site_id:bigint", "care_site_name:varchar(255)",
                "place_of_service_concept_id:integer", "location_id:bigint",
            )),
            ("location", _T, (
                "location_id:bigint", "address_1:varchar(50)", "address_2:varchar(50)",
                "city:varchar(50)", "state:varchar(2)", "zip:varchar(9)", "county:varchar(20)",
            )),
            ("death", _T, ("person_id:bigint", "death_date:date", "cause_concept_id:integer")),
            ("concept", _T, (
                "concept_id:integer", "concept_name:varchar(255)", "domain_id:varchar(20)",
                "vocabulary_id:varchar(20)", "concept_class_id:varchar(20)",
                "standard_concept:varchar(1)", "concept_code:varchar(50)",
                "valid_start_date:date", "valid_end_date:date",
            )),
        ],
        "maternity": [
            ("mother", _T, (
                "mother_id:bigint", "patient_id:bigint", "dob:date", "gravida:smallint",
                "para:smallint", "blood_type:varchar(3)",
            )),
            ("child", _T, (
                "child_id:bigint", "mother_id:bigint", "birth_ts:timestamp", "sex:char(1)",
                "birth_weight_g:integer", "birth_length_cm:numeric(4,1)", "apgar_1min:smallint",
                "apgar_5min:smallint", "nicu_admit:boolean",
            )),
            ("birth", _T, (
                "birth_id:bigint", "mother_id:bigint", "delivery_ts:timestamp",
                "delivery_method:varchar(20)", "gestational_age_wks:smallint",
                "attending_doctor_id:integer",
            )),
            ("prenatal_visit", _T, (
                "visit_id:bigint", "mother_id:bigint", "visit_dt:date",
                "gestational_age_wks:smallint", "fundal_height_cm:numeric(4,1)",
                "fetal_hr:smallint",
            )),
        ],
        "monitoring": [
            ("vital_sign", _P, (
                "vital_sign_id:bigint", "patient_id:bigint", "device_id:integer",
                "recorded_ts:timestamptz", "heart_rate:smallint", "resp_rate:smallint",
                "systolic_bp:smallint", "diastolic_bp:smallint", "spo2:smallint",
                "temperature_c:numeric(4,1)",
            )),
            ("device", _T, (
                "device_id:integer", "device_serial:varchar(40)", "model_num:varchar(40)",
                "ward:varchar(20)", "installed_dt:date",
            )),
            ("alarm", _T, (
                "alarm_id:bigint", "device_id:integer", "patient_id:bigint",
                "alarm_type:varchar(20)", "severity:varchar(12)", "raised_ts:timestamptz",
                "acked_by:integer",
            )),
        ],
    },
}  # fmt: skip

# A partitioned table's monthly partitions (PostgreSQL declarative partitioning): each is a table
# of its own, `partition_of` its parent, with the parent's columns.
PARTITIONS: dict[str, tuple[str, ...]] = {
    "event": (*(f"event_2024_{month:02d}" for month in range(1, 13)), "event_default"),
    "vital_sign": tuple(f"vital_sign_2024_{month:02d}" for month in range(1, 7)),
    "audit_log": tuple(f"audit_log_2024_{month:02d}" for month in range(1, 7)),
}

# What the views and materialized views select from.
DEFINITIONS: dict[str, str] = {
    "current_dept_emp": (
        "SELECT l.emp_no, d.dept_no, l.from_date, l.to_date FROM employees.dept_emp d"
        " JOIN employees.dept_emp_latest_date l ON d.emp_no = l.emp_no"
        " AND d.from_date = l.from_date AND l.to_date = d.to_date"
    ),
    "dept_emp_latest_date": (
        "SELECT emp_no, max(from_date) AS from_date, max(to_date) AS to_date"
        " FROM employees.dept_emp GROUP BY emp_no"
    ),
    "emp_details_view": (
        "SELECT e.emp_no, h.job_id, d.dept_no, l.location_id, c.country_id, e.first_name,"
        " e.last_name, d.dept_name, j.job_title, l.city, l.state_province, c.country_name,"
        " r.region_name FROM employees.employees e JOIN hr.job_history h USING (emp_no)"
        " JOIN employees.departments d ON d.dept_no = h.dept_no JOIN hr.jobs j USING (job_id)"
        " JOIN hr.org_unit o ON o.dept_no = d.dept_no JOIN hr.locations l USING (location_id)"
        " JOIN hr.countries c USING (country_id) JOIN hr.regions r USING (region_id)"
    ),
    "v_paycheck_summary": (
        "SELECT emp_no, pay_period_id, sum(gross_amt) AS gross_amt, sum(net_amt) AS net_amt"
        " FROM payroll.paycheck GROUP BY emp_no, pay_period_id"
    ),
    "v_order_summary": (
        'SELECT order_id, customer_id, order_ts, status, total_amt, currency FROM store."order"'
    ),
    "v_review_public": (
        "SELECT review_id, product_id, rating, title, body, created_at FROM store.review"
        " WHERE is_verified"
    ),
    "mv_product_sales": (
        "SELECT i.product_id, i.sku, date_trunc('month', o.order_ts)::date AS sales_month,"
        " sum(i.order_qty) AS units_sold, sum(i.line_total) AS revenue_amt"
        ' FROM store.order_item i JOIN store."order" o USING (order_id) GROUP BY 1, 2, 3'
    ),
    "v_open_shipments": (
        "SELECT s.shipment_id, s.order_id, c.carrier_name AS carrier, s.tracking_num, s.ship_ts,"
        " s.status FROM fulfillment.shipment s JOIN fulfillment.carrier c USING (carrier_id)"
        " WHERE s.delivered_ts IS NULL"
    ),
    "mv_daily_sales": (
        "SELECT o.order_ts::date AS sales_dt, count(DISTINCT o.order_id) AS order_cnt,"
        " sum(i.order_qty) AS units_sold, sum(i.line_total) AS revenue_amt, o.currency"
        ' FROM store."order" o JOIN store.order_item i USING (order_id) GROUP BY 1, 5'
    ),
    "report_top_customers": (
        "SELECT c.email AS customer, count(*) AS order_cnt, sum(o.total_amt) AS revenue_amt,"
        ' max(o.order_ts) AS last_order_ts FROM store."order" o JOIN store.customer c'
        " USING (customer_id) GROUP BY c.email ORDER BY revenue_amt DESC LIMIT 100"
    ),
    "v_active_patients": (
        "SELECT patient_id, mrn, first_name, last_name, birth_date, sex FROM ehr.patients"
        " WHERE deceased_dt IS NULL"
    ),
    "v_upcoming_appointments": (
        "SELECT appointment_id, patient_id, doctor_id, appt_ts, reason FROM ehr.appointments"
        " WHERE appt_ts > now()"
    ),
    "mv_ward_occupancy": (
        "SELECT b.ward_id, current_date AS census_dt, count(*) FILTER (WHERE b.status ="
        " 'occupied') AS occupied_beds, count(*) AS total_beds FROM ops.bed b GROUP BY 1"
    ),
}

# Look-alikes: each database's own words, combined as data teams name things.
_ENTITIES: dict[str, tuple[str, ...]] = {
    HR: (
        "employee", "emp", "dept", "salary", "job", "payroll", "paycheck", "timecard", "leave",
        "benefit", "candidate", "training", "manager", "title",
    ),
    SHOP2: (
        "customer", "order", "invoice", "payment", "product", "cart", "shipment",
        "coupon", "review", "inventory", "category", "supplier", "promo", "refund", "price",
        "event", "session",
    ),
    CLINIC: (
        "patient", "admission", "appointment", "lab", "prescription", "diagnosis", "doctor",
        "ward", "bed", "claim", "encounter", "visit", "med", "vital", "staff",
    ),
}  # fmt: skip
_DETAILS = (
    "item", "line", "detail", "summary", "snapshot", "log", "metric", "archive", "map", "queue",
    "stage", "xref", "extract",
)  # fmt: skip
_PREFIXES = ("stg_", "tmp_", "old_", "rpt_", "bak_")
_SUFFIXES = ("_bak", "_old", "_2019", "_2021", "_v2", "_tmp", "_agg", "_daily")
_COLUMNS = (
    "name:varchar(100)", "code:varchar(20)", "status:varchar(20)", "created_at:timestamp",
    "updated_at:timestamp", "notes:text", "amt:numeric(12,2)", "is_active:boolean",
    "ext_ref:varchar(64)", "version_num:integer", "load_ts:timestamp",
)  # fmt: skip
_FOREIGN_COLUMNS: dict[str, tuple[str, ...]] = {
    HR: ("emp_no:integer", "dept_no:char(4)", "from_date:date", "to_date:date"),
    SHOP2: (
        "customer_id:bigint", "order_id:bigint", "invoice_id:bigint", "product_id:bigint",
        "customer:varchar(120)", "currency:char(3)",
    ),
    CLINIC: ("patient_id:bigint", "admission_id:bigint", "ward:varchar(20)", "doctor_id:integer"),
}  # fmt: skip
_LOOK_ALIKES = {HR: 22, SHOP2: 32, CLINIC: 30}


def _table(
    schema: str,
    name: str,
    kind: TableType,
    columns: tuple[str, ...],
    partition_of: str | None = None,
) -> Table:
    return spec_table(
        schema, name, kind, columns, partition_of=partition_of, definition=DEFINITIONS.get(name)
    )


def _named(schema: str, spec: Spec) -> list[Table]:
    """The table, and when it is partitioned, its partitions."""
    name, kind, columns = spec
    parent = _table(schema, name, kind, columns)
    if kind is not _P:
        return [parent]
    partitions = [
        _table(schema, partition, _T, columns, partition_of=f"{schema}.{name}")
        for partition in PARTITIONS[name]
    ]
    return [parent, *partitions]


def _look_alikes(rng: Random, database_id: str, taken: set[str]) -> list[Table]:
    schemas = list(NAMED[database_id])
    columns = (*_COLUMNS, *_FOREIGN_COLUMNS[database_id])
    tables = []
    while len(tables) < _LOOK_ALIKES[database_id]:
        name = rng.choice(_ENTITIES[database_id])
        if rng.random() < 0.7:
            name += "_" + rng.choice(_DETAILS)
        if rng.random() < 0.25:
            name = rng.choice(_PREFIXES) + name
        if rng.random() < 0.4:
            name += rng.choice(_SUFFIXES)
        # Never a bare word: a look-alike is never what a query means.
        if "_" not in name or name in taken:
            continue
        taken.add(name)
        chosen = rng.sample(columns, rng.randint(3, 7))
        tables.append(_table(rng.choice(schemas), name, _T, ("id:bigint", *chosen)))
    return tables


def any_tables() -> dict[str, list[Table]]:
    """Each database's tables in plan order (schema, then name), the way a crawl lists them."""
    rng = Random(20240611)
    databases: dict[str, list[Table]] = {}
    for database_id, schemas in NAMED.items():
        named = [
            table
            for schema, specs in schemas.items()
            for spec in specs
            for table in _named(schema, spec)
        ]
        taken = {table.name for table in named}
        tables = [*named, *_look_alikes(rng, database_id, taken)]
        databases[database_id] = sorted(tables, key=lambda t: (t.schema, t.name))
    return databases


async def load_any_catalog(index: SearchIndex) -> list[Document]:
    """Write and publish the three databases; returns every document written."""
    return await load_databases(index, any_tables())

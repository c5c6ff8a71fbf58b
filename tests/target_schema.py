"""A target database schema with every kind of relation and awkward names, shared by the tests.

Views, a materialized view, a partitioned table with partitions, composite and cross-schema
foreign keys, unique and expression indexes, comments, defaults, generated columns, and
identifiers in mixed case, with spaces, quotes and unicode.
"""

SCHEMA = """
CREATE SCHEMA sales;
CREATE SCHEMA "Ops Data";
CREATE SCHEMA données;

CREATE TABLE données."größe" (
    "Id" integer PRIMARY KEY,
    "label""quoted" text UNIQUE,
    größe smallint NOT NULL DEFAULT 1
);
COMMENT ON TABLE données."größe" IS 'Größen, grandeurs';
COMMENT ON COLUMN données."größe".größe IS 'in cm';

CREATE TABLE sales.customers (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    name varchar(200) NOT NULL DEFAULT '',
    "a column" numeric(10, 2),
    size_id integer REFERENCES données."größe" ("Id"),
    CONSTRAINT customers_email_key UNIQUE (email)
);
COMMENT ON TABLE sales.customers IS 'People who buy';
COMMENT ON COLUMN sales.customers.email IS 'Login e-mail';
CREATE INDEX customers_lower_email_name ON sales.customers (lower(email), name);
CREATE INDEX customers_name ON sales.customers (name) INCLUDE ("a column");

CREATE TABLE sales.orders (
    customer_id bigint NOT NULL REFERENCES sales.customers (id),
    order_no integer NOT NULL,
    total numeric(12, 2) DEFAULT 0,
    PRIMARY KEY (customer_id, order_no)
);

CREATE TABLE sales.order_lines (
    order_no integer NOT NULL,
    customer_id bigint NOT NULL,
    line smallint NOT NULL,
    quantity integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    PRIMARY KEY (customer_id, order_no, line),
    CONSTRAINT order_lines_order_fk FOREIGN KEY (order_no, customer_id)
        REFERENCES sales.orders (order_no, customer_id)
);

CREATE TABLE "Ops Data"."CamelCase" (
    "Id" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "MixedCase" text,
    doubled integer GENERATED ALWAYS AS ("Id" * 2) STORED
);

CREATE TABLE "Ops Data"."my table" ("a column" integer, gone text, "it's" text);
ALTER TABLE "Ops Data"."my table" DROP COLUMN gone;
COMMENT ON COLUMN "Ops Data"."my table"."a column" IS 'spaced';

CREATE VIEW sales.customer_emails AS SELECT id, email FROM sales.customers;
COMMENT ON VIEW sales.customer_emails IS 'Just the addresses';

CREATE TABLE sales.events (
    id integer NOT NULL,
    happened date NOT NULL,
    payload jsonb,
    customer_id bigint REFERENCES sales.customers (id),
    PRIMARY KEY (id, happened)
) PARTITION BY RANGE (happened);
CREATE TABLE sales.events_2025 PARTITION OF sales.events
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE sales.events_2026 PARTITION OF sales.events
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

CREATE TABLE sales.event_notes (
    event_id integer NOT NULL,
    happened date NOT NULL,
    note text,
    CONSTRAINT event_notes_event_fk FOREIGN KEY (event_id, happened)
        REFERENCES sales.events (id, happened)
);

INSERT INTO données."größe" VALUES (1, 'S', 10), (2, 'M', 20), (3, 'L', 30);
INSERT INTO sales.customers (email, name, size_id) VALUES ('a@x.org', 'A', 1), ('b@x.org', 'B', 2);
INSERT INTO sales.orders VALUES (1, 1, 10.5), (2, 1, 3);
INSERT INTO sales.order_lines VALUES (1, 1, 1, 2);
INSERT INTO sales.events VALUES (1, '2025-06-01', '{}'), (2, '2026-06-01', NULL);

CREATE MATERIALIZED VIEW sales.order_totals AS
    SELECT customer_id, sum(total) AS total FROM sales.orders GROUP BY customer_id;
CREATE UNIQUE INDEX order_totals_customer ON sales.order_totals (customer_id);

ANALYZE;
-- Created after ANALYZE: never analyzed, so no row estimate.
CREATE TABLE public.plain (x integer);
"""

# Every relation SCHEMA creates, in the order the crawler lists them (schema, then name, as the
# "C" collation of pg_catalog's `name` sorts them).
RELATIONS = [
    ("Ops Data", "CamelCase"),
    ("Ops Data", "my table"),
    ("données", "größe"),
    ("public", "plain"),
    ("sales", "customer_emails"),
    ("sales", "customers"),
    ("sales", "event_notes"),
    ("sales", "events"),
    ("sales", "events_2025"),
    ("sales", "events_2026"),
    ("sales", "order_lines"),
    ("sales", "order_totals"),
    ("sales", "orders"),
]

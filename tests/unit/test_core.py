"""Core helpers: identifiers, cipher, scrubbing, messages, settings, documents."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from catalog.bootstrap import private_folder
from catalog.cipher import SecretCipher, generate_key
from catalog.documents import (
    NEVER_RETIRED,
    DocumentKind,
    Scope,
    document_id,
    documents_for_table,
    generation_scope,
)
from catalog.errors import CredentialError, InvalidInputError, PermanentError
from catalog.identifiers import (
    compact_name,
    identifier_parts,
    identifier_terms,
    inner_suffixes,
    part_spans,
)
from catalog.messages import (
    CRAWL_BATCH,
    CRAWL_REQUESTED,
    CrawlBatchRequested,
    CrawlRequested,
    decode,
    encode,
)
from catalog.models import DEFAULT_TENANT, NewDatabase
from catalog.principal import Principal, Role
from catalog.redact import scrub
from catalog.settings import Settings
from catalog.supervisor import children
from gateway.known_tokens import KnownTokens
from tests.factories import PASSWORD, new_database, table


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("customer_orders", ["customer", "orders"]),
        ("SalesRegion", ["sales", "region"]),
        ("salesRegion", ["sales", "region"]),
        ("HTTPServerLog", ["http", "server", "log"]),
        ("orders_2019", ["orders", "2019"]),
        ("orders2019", ["orders", "2019"]),
        ("public.Orders", ["public", "orders"]),
        ("my table", ["my", "table"]),
        ("ÉtéCommandes", ["été", "commandes"]),
        ("größe", ["größe"]),
        ('a"quote', ["a", "quote"]),
    ],
)
def test_identifier_parts(name, parts):
    assert identifier_parts(name) == parts


def test_identifier_terms_keep_the_whole_name_for_exact_matches():
    assert identifier_terms("customer_orders") == [
        "customer",
        "orders",
        "customer_orders",  # underscores kept, for exact matching
        "customerorders",  # typed without separators
    ]
    assert identifier_terms("SalesRegion") == ["sales", "region", "salesregion"]
    assert identifier_terms("orders") == ["orders"]


def test_inner_suffixes_make_substrings_prefixes():
    suffixes = inner_suffixes("DriverLicense_2019")
    assert "license" in suffixes  # `license` is a prefix of a suffix of the word
    assert "driverlicense" not in suffixes  # the word itself: prefix search covers it
    assert all(len(suffix) >= 3 for suffix in suffixes)
    assert "019" in suffixes
    assert inner_suffixes("id") == []


def test_part_spans_point_into_the_original_name():
    name = "Ops Data.salesRegion_2019"
    assert [name[start:end] for start, end in part_spans(name)] == [
        "Ops",
        "Data",
        "sales",
        "Region",
        "2019",
    ]
    assert compact_name(name) == "opsdatasalesregion2019"


def test_cipher_round_trips_and_binds_to_the_row():
    cipher = SecretCipher.from_keys([generate_key()])
    sealed = cipher.encrypt(PASSWORD, bound_to="db_1")
    assert PASSWORD.encode() not in sealed.blob
    assert cipher.decrypt(sealed, bound_to="db_1") == PASSWORD
    with pytest.raises(CredentialError):
        cipher.decrypt(sealed, bound_to="db_2")


def test_cipher_first_key_encrypts_and_all_keys_decrypt():
    old, new = generate_key(), generate_key()
    sealed_by_old = SecretCipher.from_keys([old]).encrypt("pw", "db")
    rotated = SecretCipher.from_keys([new, old])
    assert rotated.decrypt(sealed_by_old, "db") == "pw"
    assert rotated.encrypt("pw", "db").key_id == SecretCipher.key_id(rotated.keys[0])
    with pytest.raises(CredentialError, match="no configured secret key"):
        SecretCipher.from_keys([new]).decrypt(sealed_by_old, "db")


@pytest.mark.parametrize("bad", ["not base64!!", "c2hvcnQ="])
def test_cipher_rejects_malformed_keys(bad):
    with pytest.raises(InvalidInputError):
        SecretCipher.from_keys([bad])


def test_cipher_repr_shows_no_key_material():
    key = generate_key()
    assert key not in repr(SecretCipher.from_keys([key]))


def test_scrub_removes_dsn_passwords():
    text = f"failed: postgresql://bob:{PASSWORD}@db:5432/x password={PASSWORD} nats://u:p@h"
    cleaned = scrub(text)
    assert PASSWORD not in cleaned
    assert ":p@" not in cleaned
    assert "postgresql://bob:***@db:5432/x" in cleaned


def test_scrub_leaves_other_text_whole():
    text = 'InvalidAuthorizationSpecificationError: role "x" does not exist'
    assert scrub(text) == text


def test_messages_round_trip():
    batch = CrawlBatchRequested("crawl_1", "db_1", 3)
    assert decode(CRAWL_BATCH, encode(batch)) == batch
    request = CrawlRequested("crawl_1", "db_1")
    assert decode(CRAWL_REQUESTED, encode(request)) == request


@pytest.mark.parametrize(
    ("subject", "data"),
    [
        (CRAWL_REQUESTED, b"not json"),
        (CRAWL_REQUESTED, b'{"crawl_id": "c"}'),
        (CRAWL_REQUESTED, b'{"crawl_id": "", "database_id": "d"}'),
        (CRAWL_REQUESTED, b'["c", "d"]'),
        (CRAWL_BATCH, b'{"crawl_id": "c", "database_id": "d", "number": -1}'),
        (CRAWL_BATCH, b'{"crawl_id": "c", "database_id": "d", "number": "1"}'),
        ("catalog.other", b"{}"),
    ],
)
def test_malformed_messages_are_permanent(subject, data):
    with pytest.raises(PermanentError):
        decode(subject, data)


def test_settings_from_env_reads_catalog_variables_and_masks_secrets():
    settings = Settings.from_env(
        {
            "CATALOG_PORT": "9000",
            "CATALOG_DATABASE_URL": "postgresql://u:hunter2@h/db",
            "CATALOG_SECRET_KEYS": "k1, k2",
            "CATALOG_ADMIN_TOKEN": "tok-hunter2",
            "CATALOG_WORKERS": "4",
        }
    )
    assert (settings.port, settings.workers, settings.secret_keys) == (9000, 4, ("k1", "k2"))
    assert "hunter2" not in repr(settings)
    assert "k1" not in repr(settings)


def test_settings_defaults_are_embedded():
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.nats_url is None
    assert settings.opensearch_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_metrics_are_served_only_where_a_port_is_set():
    assert Settings.from_env({}).metrics_port is None  # catalog up picks 9464 itself
    assert Settings.from_env({"CATALOG_METRICS_PORT": "0"}).metrics_port == 0  # off
    chosen = Settings.from_env({"CATALOG_METRICS_PORT": "9100", "CATALOG_METRICS_HOST": "::"})
    assert (chosen.metrics_host, chosen.metrics_port) == ("::", 9100)
    with pytest.raises(InvalidInputError, match="CATALOG_METRICS_PORT"):
        Settings.from_env({"CATALOG_METRICS_PORT": "70000"})


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_settings_reject_bad_numbers(value):
    with pytest.raises(InvalidInputError, match="CATALOG_PORT"):
        Settings.from_env({"CATALOG_PORT": value})


def test_new_database_repr_hides_the_password():
    assert PASSWORD not in repr(new_database())
    assert isinstance(new_database(), NewDatabase)


def test_documents_have_deterministic_ids_and_no_secrets():
    docs = documents_for_table(
        "db_1", 2, 7, table("public", "orders", "id", "total"), tenant_id="t"
    )
    again = documents_for_table(
        "db_1", 2, 7, table("public", "orders", "id", "total"), tenant_id="t"
    )
    next_crawl = documents_for_table(
        "db_1", 3, 7, table("public", "orders", "id", "total"), tenant_id="t"
    )
    assert [d.id for d in docs] == [d.id for d in again]
    # A new generation never overwrites what readers of the previous one are served.
    assert not {d.id for d in docs} & {d.id for d in next_crawl}
    assert [d.kind for d in docs] == [DocumentKind.TABLE, DocumentKind.COLUMN, DocumentKind.COLUMN]
    assert docs[0].id == document_id("db_1", 2, "public", "orders")
    assert document_id("db", 1, "a/b", "c") != document_id("db", 1, "a", "b/c")
    assert (docs[1].generation, docs[1].retired) == (2, NEVER_RETIRED)
    scope = Scope.parse(generation_scope("db_1", 5, 2))
    assert (str(scope), scope.base, scope.generation) == ("db_1:2-5", 2, 5)
    assert [scope.sees(2, NEVER_RETIRED), scope.sees(5, 6), scope.sees(3, 5)] == [True, True, False]
    assert [scope.sees(1, NEVER_RETIRED), scope.sees(6, NEVER_RETIRED)] == [False, False]
    assert Scope.parse("db_1:2") == Scope("db_1", 2, 2)
    assert docs[1].ordinal == 7
    assert docs[0].payload["columns"][1]["name"] == "total"


def test_settings_read_the_process_layout_and_the_search_cache():
    settings = Settings.from_env(
        {
            "CATALOG_GATEWAY_PROCESSES": "3",
            "CATALOG_INDEXER_NICE": "0",
            "CATALOG_REUSE_PORT": "true",
            "CATALOG_SEARCH_CACHE_MB": "0",
        }
    )
    assert (settings.gateway_processes, settings.indexer_nice) == (3, 0)
    assert settings.reuse_port
    assert settings.search_cache_mb == 0
    defaults = Settings.from_env({})
    assert (defaults.gateway_processes, defaults.indexer_nice, defaults.reuse_port) == (
        0,
        10,
        False,
    )


@pytest.mark.parametrize(
    ("name", "value"), [("INDEXER_NICE", "20"), ("INDEXER_NICE", "-1"), ("GATEWAY_PROCESSES", "x")]
)
def test_settings_reject_out_of_range_whole_numbers(name, value):
    with pytest.raises(InvalidInputError, match=f"CATALOG_{name} must be a whole number"):
        Settings.from_env({f"CATALOG_{name}": value})


def test_catalog_up_runs_one_indexer_and_a_gateway_per_cpu_unless_told():
    told = children(Settings(gateway_processes=3, indexer_nice=7))
    assert [(c.name, c.module, c.nice) for c in told] == [
        ("indexer", "indexer", 7),
        ("gateway-1", "gateway", 0),
        ("gateway-2", "gateway", 0),
        ("gateway-3", "gateway", 0),
    ]
    assert len(children(Settings())) == 1 + (os.cpu_count() or 1)


class CountingTokens:
    """A store's token lookup, counted."""

    def __init__(self, principal: Principal | None) -> None:
        self.principal, self.lookups = principal, 0

    async def token_principal(self, token_hash: bytes) -> Principal | None:
        self.lookups += 1
        return self.principal


async def test_known_tokens_ask_the_store_once_per_ttl_and_always_for_unknown_ones():
    admin = Principal(DEFAULT_TENANT, Role.ADMIN, "admin")
    store = CountingTokens(admin)
    known = KnownTokens(ttl=0.2)
    assert [await known.principal(store, b"h") for _ in range(3)] == [admin] * 3
    assert store.lookups == 1
    await asyncio.sleep(0.25)
    await known.principal(store, b"h")
    assert store.lookups == 2
    nobody = CountingTokens(None)
    assert await known.principal(nobody, b"x") is None
    assert await known.principal(nobody, b"x") is None
    assert nobody.lookups == 2


def test_the_data_folder_is_its_owners_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    private_folder(shared)
    assert shared.stat().st_mode & 0o777 == 0o700
    nested = tmp_path / "a" / "data"
    private_folder(nested)
    assert nested.stat().st_mode & 0o777 == 0o700


def test_a_data_folder_someone_else_owns_is_used_with_a_warning(tmp_path, monkeypatch, caplog):
    def refuse(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "chmod", refuse)
    private_folder(tmp_path)
    assert "cannot make" in caplog.text
    assert "others may read what it holds" in caplog.text

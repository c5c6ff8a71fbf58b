"""The `catalog` command's rendering and where it finds the API and its token."""

from __future__ import annotations

import pytest

from catalog.bootstrap import ADMIN_TOKEN_FILE
from catalog.console import Endpoint, NoTokenError, _hit_name, hit_row
from catalog.settings import Settings


def hit(**fields: object) -> dict:
    return {"schema": "sales", "table": "customers", "column": None, "highlight": None, **fields}


def test_a_hit_shows_its_matched_parts_in_bold():
    name = _hit_name(hit(highlight="<em>cust</em>omers"))
    assert name.plain == "sales.customers"
    bold = [name.plain[span.start : span.end] for span in name.spans if "bold" in str(span.style)]
    assert bold == ["cust"]


def test_a_column_hit_is_named_schema_table_column():
    name = _hit_name(hit(column="email", highlight="<em>email</em>"))
    assert name.plain == "sales.customers.email"


def test_names_are_text_never_markup_or_html():
    # The API escapes names for HTML; the terminal shows them as they are in the database.
    name = _hit_name(
        hit(table="[bold red]x[/bold red] <b>", highlight="[bold red]x[/bold red] &lt;b&gt;")
    )
    assert name.plain == "sales.[bold red]x[/bold red] <b>"
    assert name.spans == []


def test_the_token_comes_from_the_environment_then_the_admin_token_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CATALOG_TOKEN", raising=False)
    monkeypatch.delenv("CATALOG_URL", raising=False)
    settings = Settings(data_dir=tmp_path, host="0.0.0.0", port=8123)
    with pytest.raises(NoTokenError, match="set CATALOG_TOKEN"):
        Endpoint.of(settings, None)
    (tmp_path / ADMIN_TOKEN_FILE).write_text("cat_from-the-file\n")
    assert Endpoint.of(settings, None) == Endpoint("http://127.0.0.1:8123", "cat_from-the-file")
    monkeypatch.setenv("CATALOG_TOKEN", "cat_from-the-env")
    monkeypatch.setenv("CATALOG_URL", "http://catalog.internal:8000")
    assert Endpoint.of(settings, None) == Endpoint(
        "http://catalog.internal:8000", "cat_from-the-env"
    )
    assert Endpoint.of(settings, "http://other:1").base_url == "http://other:1"


def test_every_cell_of_a_hit_is_text_whatever_the_target_named_its_types():
    # A MySQL column type is the target's text: enum('[/x]') must not be read as markup.
    row = hit_row(
        1,
        hit(
            kind="column",
            column="state",
            highlight="<em>state</em>",
            data_type="enum('[/x]','[bold]')",
            table_type="table",
            database_id="db_1",
            matched_columns=[],
        ),
    )
    assert [cell.plain for cell in row] == [
        "1",
        "sales.customers.state",
        "column",
        "enum('[/x]','[bold]')",
        "db_1",
        "",
    ]

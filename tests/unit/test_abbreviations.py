"""Abbreviations both ways (catalog.abbreviations), and an operator's file of more."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.abbreviations import BUILTIN, read_abbreviations
from catalog.errors import InvalidInputError
from catalog.search import match_plan
from catalog.settings import Settings
from gateway.app import abbreviations


def test_each_side_finds_the_other():
    assert "quantity" in BUILTIN.of_part("qty")
    assert "qty" in BUILTIN.of_part("quantity")
    assert set(BUILTIN.of_part("number")) >= {"num", "nbr", "no"}
    assert BUILTIN.of_part("invoice_id") == ()


def test_an_operators_file_adds_to_the_builtin_ones(tmp_path: Path):
    mine = tmp_path / "abbreviations.txt"
    mine.write_text("# ours\nevt = event\n\nPtnt = Patient  # case does not matter\n")
    extended = BUILTIN.extended(read_abbreviations(mine))
    assert extended.of_part("evt") == ("event",)
    assert "ptnt" in extended.of_part("patient")
    assert "quantity" in extended.of_part("qty")  # the built-in ones stay
    plan = match_plan("evt id", abbreviations=extended)
    assert plan is not None
    assert "event" in {clause.value for clause in plan.parts[0]}


@pytest.mark.parametrize("line", ["evt event", "evt = ", "= event", "e v t = event", "a = b c"])
def test_a_line_that_is_not_one_pair_says_where(tmp_path: Path, line: str):
    mine = tmp_path / "abbreviations.txt"
    mine.write_text(f"qty = quantity\n{line}\n")
    with pytest.raises(InvalidInputError, match=r"line 2: write one abbreviation"):
        read_abbreviations(mine)


def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(InvalidInputError, match="cannot read the abbreviations file"):
        read_abbreviations(tmp_path / "nope.txt")


def test_the_gateway_reads_the_operators_file_at_start(tmp_path: Path):
    mine = tmp_path / "abbreviations.txt"
    mine.write_text("evt = event\n")
    assert abbreviations(Settings()) is BUILTIN
    assert abbreviations(Settings(abbreviations_file=mine)).of_part("evt") == ("event",)
    env = {"CATALOG_ABBREVIATIONS_FILE": str(mine)}
    assert Settings.from_env(env).abbreviations_file == mine

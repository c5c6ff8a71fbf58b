"""Plural and singular forms of identifier parts (catalog.inflections)."""

from __future__ import annotations

import pytest

from catalog.inflections import inflections


@pytest.mark.parametrize(
    ("part", "forms"),
    [
        ("orders", {"order"}),
        ("order", {"orders"}),
        ("companies", {"company"}),
        ("company", {"companies"}),
        ("day", {"days"}),  # a vowel before the y
        ("boxes", {"box"}),
        ("box", {"boxes"}),
        ("histories", {"history"}),
        ("addresses", {"address"}),
        ("status", {"statuses"}),
        ("statuses", {"status"}),
        ("buses", {"bus"}),
        ("cases", {"case"}),
        ("people", {"person"}),
        ("children", {"child"}),
        ("analysis", {"analyses"}),
        ("wives", {"wife"}),
    ],
)
def test_each_number_finds_the_other(part: str, forms: set[str]) -> None:
    assert set(inflections(part)) >= forms
    assert part not in inflections(part)


def test_ambiguous_endings_offer_both_readings() -> None:
    assert set(inflections("caches")) == {"cache", "cach"}
    assert set(inflections("boxes")) == {"box", "boxe"}


@pytest.mark.parametrize("part", ["id", "no", "ts", "2019", "data", "news", "series", "x1"])
def test_codes_numbers_and_invariant_words_have_no_other_form(part: str) -> None:
    assert inflections(part) == ()

"""Generated demographics: deterministic, valid, plausibly distributed."""

from __future__ import annotations

from collections import Counter

from shopstream.ops.demographics import COUNTRIES, generate


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert list(generate(2_000, 1)) == list(generate(2_000, 1))
    assert list(generate(2_000, 1)) != list(generate(2_000, 2))


def test_rows_are_valid_and_cover_ids_1_to_count() -> None:
    rows = list(generate(20_000, 42))
    assert [r[0] for r in rows] == list(range(1, 20_001))
    assert all(18 <= age <= 90 for _, age, _, _, _ in rows)
    assert {g for _, _, g, _, _ in rows} == {"F", "M", "X"}
    countries = Counter(c for *_, c in rows)
    assert set(countries) == {c for c, _, _ in COUNTRIES}
    assert 0.65 < countries["US"] / len(rows) < 0.75
    assert all(1 <= len(state) <= 3 and state.isupper() for _, _, _, state, _ in rows)
    assert len({state for _, _, _, state, c in rows if c == "US"}) >= 45

"""The arithmetic of `bench influx-shape` and the sink's time model, without a service."""

from __future__ import annotations

import hashlib

import pytest

from shopstream.bench.influx_shape import Shape, collisions_per_hour, effective_series, shapes
from shopstream.contracts import disambiguated_ns, hash_bucket, shop_events


def test_the_time_is_the_millisecond_plus_the_sink_s_offset() -> None:
    digest = hashlib.sha256(b"4f1c2d3e-0000-4000-8000-000000000001").digest()
    offset = int.from_bytes(digest[:8], "big") % 1_000_000
    assert disambiguated_ns(1_796_000_000_123, "4f1c2d3e-0000-4000-8000-000000000001") == (
        1_796_000_000_123_000_000 + offset
    )


def test_a_bucket_comes_from_other_bytes_of_the_hash_than_the_slot() -> None:
    digest = hashlib.sha256(b"e-1").digest()
    assert hash_bucket("e-1", 1024) == int.from_bytes(digest[8:16], "big") % 1024
    picked = {hash_bucket(f"e-{i}", 16) for i in range(2_000)}
    assert picked == set(range(16))  # every bucket used


def test_effective_series_equals_the_count_when_even_and_less_when_skewed() -> None:
    assert effective_series(["a", "b", "c", "d"] * 25) == pytest.approx(4.0)
    assert effective_series(["a"] * 97 + ["b", "c", "d"]) == pytest.approx(10_000 / (97 * 97 + 3))


def test_collisions_fall_with_the_series_and_grow_with_the_square_of_the_rate() -> None:
    # 20k events/s over 48 even series: 20000^2 / (2 * 48 * 1000 * 10^6) per second
    assert collisions_per_hour(20_000, 48) == pytest.approx(3600 * 4e8 / 9.6e10)
    assert collisions_per_hour(20_000, 4_800) == pytest.approx(collisions_per_hour(20_000, 48) / 100)
    assert collisions_per_hour(40_000, 48) == pytest.approx(4 * collisions_per_hour(20_000, 48))


def test_the_candidates_start_with_the_connector_s_current_tags() -> None:
    current = shop_events()
    found = shapes([1024], current)
    assert found[0].tags == current.tags
    assert [s.name for s in found[1:]] == ["campaign_id,tag", "tag,bucket(1024)"]
    bucketed = Shape("b", ("tag",), 1024)
    assert bucketed.tags_of({"tag": "view", "event_id": "e-1", "state": "CA"}) == {
        "tag": "view",
        "bucket": str(hash_bucket("e-1", 1024)),
    }

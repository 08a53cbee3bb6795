"""Behaviour of the synthetic traffic model: funnel, conversion, popularity, determinism, schema fit."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from statistics import median
from typing import Any

import fastavro
import fastavro.validation
import pytest

from producer.traffic import (
    CATEGORIES,
    COUPON_CODES,
    MAX_PRICE_CENTS,
    MIN_PRICE_CENTS,
    TrafficConfig,
    TrafficModel,
    zipf_weights,
)

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas" / "avro"
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SAMPLE = 200_000
FUNNEL = ("click", "add_to_cart", "purchase")

Event = dict[str, object]


def load_schema(version: int) -> Any:
    """The parsed Avro schema the producer will register for this version."""
    return fastavro.parse_schema(json.loads((SCHEMA_DIR / f"shop_event.v{version}.avsc").read_text()))


def field_names(version: int) -> list[str]:
    """Schema field names in schema order."""
    return [field["name"] for field in load_schema(version)["fields"]]


@pytest.fixture(scope="module")
def model() -> TrafficModel:
    """One default-shaped v2 model; its stream is consumed once by ``sample``."""
    return TrafficModel(TrafficConfig(seed=11, start_ms=START_MS))


@pytest.fixture(scope="module")
def sample(model: TrafficModel) -> list[Event]:
    """A large sample, big enough for per-campaign conversion and popularity statistics."""
    return model.take(SAMPLE)


@pytest.fixture(scope="module")
def sessions(sample: list[Event]) -> dict[object, list[Event]]:
    """The sample's events grouped by session, in stream order."""
    grouped: dict[object, list[Event]] = defaultdict(list)
    for event in sample:
        grouped[event["session_id"]].append(event)
    return grouped


def as_int(value: object) -> int:
    """Narrow an event field to int (the event dicts are ``dict[str, object]``)."""
    assert isinstance(value, int)
    return value


# --- funnel ----------------------------------------------------------------------------------------


def test_every_session_walks_the_funnel_in_order(
    sessions: dict[object, list[Event]], model: TrafficModel
) -> None:
    max_views = model.config.max_views_per_session
    for events in sessions.values():
        tags = [event["tag"] for event in events]
        views = 0
        while views < len(tags) and tags[views] == "view":
            views += 1
        assert 1 <= views <= max_views, tags
        assert tuple(tags[views:]) == FUNNEL[: len(tags) - views], tags
        # One user, campaign and device per session; the funnel concerns one of the viewed items.
        assert len({(e["user_id"], e["campaign_id"], e["device"]) for e in events}) == 1
        viewed = {e["sku"] for e in events[:views]}
        assert {e["sku"] for e in events[views:]} <= viewed
        assert len({e["sku"] for e in events[views:]}) <= 1
        times = [as_int(e["event_time"]) for e in events]
        assert times == sorted(times)


def test_event_time_is_monotonic_and_advances_at_the_configured_rate(
    sample: list[Event], model: TrafficModel
) -> None:
    times = [as_int(event["event_time"]) for event in sample]
    assert all(a <= b for a, b in pairwise(times))
    assert times[0] >= START_MS
    expected_span_ms = SAMPLE / model.config.events_per_second * 1000
    assert times[-1] - START_MS == pytest.approx(expected_span_ms, rel=0.05)


def test_sessions_interleave_like_real_traffic(
    sample: list[Event], sessions: dict[object, list[Event]]
) -> None:
    first = sample[:200]
    assert len({event["session_id"] for event in first}) > 50
    # Some session's events are not contiguous in the stream: other sessions' events come between.
    position = {id(event): index for index, event in enumerate(sample)}
    spread_out = sum(
        1 for events in sessions.values() if position[id(events[-1])] - position[id(events[0])] >= len(events)
    )
    assert spread_out > len(sessions) // 2


def test_start_defaults_to_now() -> None:
    before = time.time_ns() // 1_000_000
    model = TrafficModel(TrafficConfig(seed=1))
    after = time.time_ns() // 1_000_000
    assert before <= model.start_ms <= after
    assert as_int(model.take(1)[0]["event_time"]) >= before


# --- campaigns and conversion ----------------------------------------------------------------------


def test_measured_conversion_matches_configured_per_campaign(
    sample: list[Event], sessions: dict[object, list[Event]], model: TrafficModel
) -> None:
    clicks: Counter[object] = Counter()
    purchases: Counter[object] = Counter()
    for event in sample:
        if event["tag"] == "click":
            clicks[event["campaign_id"]] += 1
        elif event["tag"] == "purchase":
            purchases[event["campaign_id"]] += 1
    campaign_ids = [campaign.campaign_id for campaign in model.campaigns]
    assert set(clicks) == set(campaign_ids)
    measured: dict[str, float] = {}
    for campaign_id in campaign_ids:
        configured = model.configured_conversion(campaign_id)
        measured[campaign_id] = purchases[campaign_id] / clicks[campaign_id]
        sigma = math.sqrt(configured * (1 - configured) / clicks[campaign_id])
        assert measured[campaign_id] == pytest.approx(configured, abs=max(4 * sigma, 0.01)), campaign_id

    # Campaigns really differ, and the measurements rank them as configured at the extremes.
    configured_all = {cid: model.configured_conversion(cid) for cid in campaign_ids}
    best = max(configured_all, key=configured_all.__getitem__)
    worst = min(configured_all, key=configured_all.__getitem__)
    assert configured_all[best] > 1.5 * configured_all[worst]
    assert measured[best] > measured[worst] + 0.05

    # Click-through per session follows each campaign's click probability too.
    started: Counter[object] = Counter(events[0]["campaign_id"] for events in sessions.values())
    for campaign in model.campaigns:
        ctr = clicks[campaign.campaign_id] / started[campaign.campaign_id]
        assert ctr == pytest.approx(campaign.click_probability, abs=0.03), campaign.campaign_id


def test_campaign_profiles_follow_the_config() -> None:
    config = TrafficConfig(seed=3, campaigns=5, campaign_spread=0.0, start_ms=0)
    model = TrafficModel(config)
    assert [c.campaign_id for c in model.campaigns] == [f"cmp-{i:03d}" for i in range(5)]
    for campaign in model.campaigns:
        assert campaign.click_probability == config.click_probability
        expected = config.add_to_cart_probability * config.purchase_probability
        assert model.configured_conversion(campaign.campaign_id) == pytest.approx(expected)
    with pytest.raises(KeyError, match="cmp-999"):
        model.configured_conversion("cmp-999")


# --- popularity ------------------------------------------------------------------------------------


def test_sku_views_follow_zipf(sample: list[Event], model: TrafficModel) -> None:
    views = Counter(event["sku"] for event in sample if event["tag"] == "view")
    total = sum(views.values())
    counts = sorted((views.get(item.sku, 0) for item in model.catalogue), reverse=True)
    skus = len(counts)
    weights = zipf_weights(skus, model.config.zipf_exponent)

    # The most popular SKU vs the median one: the exponent implies a ratio of (median rank) ** s.
    implied_ratio = weights[0] / weights[skus // 2]
    measured_ratio = counts[0] / median(counts)
    assert implied_ratio / 2 < measured_ratio < implied_ratio * 2
    assert counts[0] / total == pytest.approx(weights[0], rel=0.05)

    top = skus // 10
    assert sum(counts[:top]) / total == pytest.approx(sum(weights[:top]), abs=0.02)
    assert sum(counts[:top]) / total > 0.6  # far from the 10% a uniform catalogue would give


def test_popularity_rank_is_not_the_sku_number(sample: list[Event]) -> None:
    views = Counter(event["sku"] for event in sample if event["tag"] == "view")
    top10 = [str(sku) for sku, _ in views.most_common(10)]
    assert top10 != sorted(top10)


def test_zero_exponent_is_uniform() -> None:
    model = TrafficModel(TrafficConfig(seed=5, skus=50, zipf_exponent=0.0, start_ms=0))
    views = Counter(e["sku"] for e in model.take(50_000) if e["tag"] == "view")
    assert len(views) == 50
    assert max(views.values()) < 1.25 * min(views.values())


# --- determinism -----------------------------------------------------------------------------------


def test_same_seed_same_stream_and_different_seed_differs() -> None:
    config = TrafficConfig(seed=42, start_ms=START_MS)
    first = TrafficModel(config).take(20_000)
    assert TrafficModel(config).take(20_000) == first
    other = TrafficModel(TrafficConfig(seed=43, start_ms=START_MS)).take(20_000)
    assert other != first
    assert {e["event_id"] for e in other}.isdisjoint(e["event_id"] for e in first)


def test_take_continues_the_one_stream() -> None:
    config = TrafficConfig(seed=9, start_ms=START_MS)
    model = TrafficModel(config)
    assert model.take(300) + model.take(700) == TrafficModel(config).take(1_000)
    assert next(model.events()) == TrafficModel(config).take(1_001)[-1]
    assert model.take(0) == []
    with pytest.raises(ValueError, match="n must be"):
        model.take(-1)


def test_v1_stream_is_the_v2_stream_without_the_v2_fields() -> None:
    v1 = TrafficModel(TrafficConfig(seed=8, start_ms=START_MS, schema_version=1)).take(5_000)
    v2 = TrafficModel(TrafficConfig(seed=8, start_ms=START_MS, schema_version=2)).take(5_000)
    stripped = [{k: v for k, v in event.items() if k not in ("device", "coupon_code")} for event in v2]
    assert v1 == stripped


# --- schema conformance ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_events_validate_against_the_avro_schema(version: int) -> None:
    schema = load_schema(version)
    model = TrafficModel(TrafficConfig(seed=21, start_ms=START_MS, schema_version=version))
    events = model.take(30_000)
    names = field_names(version)
    checked = 0
    for index, event in enumerate(events):
        assert list(event) == names
        if index < 3_000 or event["tag"] == "purchase":
            assert fastavro.validation.validate(event, schema, raise_errors=True)
            checked += 1
    assert checked > 3_100  # the purchases were validated too
    if version == 1:
        assert all("device" not in e and "coupon_code" not in e for e in events)


def test_event_fields_are_consistent(sample: list[Event], model: TrafficModel) -> None:
    catalogue = {item.sku: item for item in model.catalogue}
    assert {item.category for item in model.catalogue} <= set(CATEGORIES)
    assert all(MIN_PRICE_CENTS <= item.price_cents <= MAX_PRICE_CENTS for item in model.catalogue)
    max_units = model.config.max_units
    order_ids = []
    coupons = 0
    for event in sample:
        item = catalogue[str(event["sku"])]
        assert event["category"] == item.category
        assert 1 <= as_int(event["user_id"]) <= model.config.users
        assert event["device"] in (None, "desktop", "mobile", "tablet")
        if event["tag"] == "purchase":
            assert isinstance(event["order_id"], str)
            order_ids.append(event["order_id"])
            units = as_int(event["units"])
            assert 1 <= units <= max_units
            assert event["total_amount_cents"] == units * item.price_cents
            assert event["coupon_code"] is None or event["coupon_code"] in COUPON_CODES
            coupons += event["coupon_code"] is not None
        else:
            assert event["order_id"] is None
            assert event["units"] == 0
            assert event["total_amount_cents"] == 0
            assert event["coupon_code"] is None
    assert len(order_ids) > 1_000
    assert len(set(order_ids)) == len(order_ids)
    assert 0.05 < coupons / len(order_ids) < 0.3  # some purchases, not all, carry a coupon
    assert len({event["event_id"] for event in sample}) == len(sample)
    parsed = uuid.UUID(str(sample[0]["event_id"]))
    assert parsed.version == 4
    assert str(parsed) == sample[0]["event_id"]


def test_users_cover_the_demographics_range(sample: list[Event]) -> None:
    users = {as_int(event["user_id"]) for event in sample}
    assert min(users) < 1_000
    assert max(users) > 99_000


# --- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", "abc"),
        ("users", 0),
        ("users", True),
        ("skus", 0),
        ("skus", 100_001),
        ("campaigns", 0),
        ("zipf_exponent", -0.5),
        ("click_probability", 1.5),
        ("add_to_cart_probability", -0.1),
        ("purchase_probability", float("nan")),
        ("campaign_spread", 1.0),
        ("max_views_per_session", 0),
        ("max_units", 0),
        ("coupon_probability", 2),
        ("events_per_second", 0),
        ("events_per_second", float("inf")),
        ("start_ms", -1),
        ("schema_version", 3),
        ("concurrent_sessions", 0),
    ],
)
def test_bad_config_raises_naming_the_field(field: str, value: object) -> None:
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=rf"TrafficConfig\.{field} "):
        TrafficConfig(**kwargs)


def test_config_is_frozen() -> None:
    config = TrafficConfig()
    with pytest.raises(AttributeError):
        config.seed = 2  # type: ignore[misc]


def test_resends_repeat_a_seeded_fraction_of_events_unchanged_after_the_delay() -> None:
    from producer.traffic import Resends

    events = TrafficModel(TrafficConfig(seed=8)).take(20_000)
    resends = Resends(0.1, delay=500, seed=3)
    stream = list(resends.apply(iter(events)))
    assert len(stream) == len(events) + resends.sent and 1_800 < resends.sent < 2_200
    position = {e["event_id"]: i for i, e in enumerate(events)}  # among the originals
    originals_so_far, seen = 0, set()
    for event in stream:
        if event["event_id"] in seen:  # a copy: the very same event, `delay` originals after it
            assert event == events[position[event["event_id"]]]
            assert originals_so_far - position[event["event_id"]] >= 500
        else:
            seen.add(event["event_id"])
            originals_so_far += 1
    assert [e["event_id"] for e in Resends(0.1, delay=500, seed=3).apply(iter(events))] == [
        e["event_id"] for e in stream
    ]  # seeded
    assert list(Resends(0.0, delay=500).apply(iter(events))) == events

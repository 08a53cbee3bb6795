"""KPI view model on static records: latest per key, horizon, totals, rankings, money in cents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shopstream.ops.kpi_view import (
    CampaignKpi,
    KpiView,
    Latest,
    SegmentKpi,
    build_view,
    common_window_ms,
    epoch_ms,
    window_ms_of,
)

MIN = 60_000
T0 = 1_795_489_680_000  # a window start (whole minute, UTC ms)


def campaign(cid: str, start: int, **counts: int) -> CampaignKpi:
    values = {"views": 0, "clicks": 0, "add_to_carts": 0, "purchases": 0, "revenue_cents": 0, "units": 0}
    values |= counts
    return CampaignKpi(cid, start, active_users=1, window_end_ms=start + MIN, **values)


def segment(gender: str, band: str, state: str, start: int, revenue: int, purchases: int) -> SegmentKpi:
    return SegmentKpi(
        gender, band, state, start, revenue, purchases, users=purchases, window_end_ms=start + MIN
    )


def test_interval_and_timestamp_conversions() -> None:
    assert window_ms_of("1 minute") == 60_000
    assert window_ms_of("30 seconds") == 30_000
    assert window_ms_of(" 2 Hours ") == 7_200_000
    assert window_ms_of("fortnightly") == 60_000
    assert epoch_ms(datetime(2026, 11, 24, 3, 10, 0, 123_000, tzinfo=UTC)) == 1_795_489_800_123
    assert epoch_ms(1_795_489_800_123) == 1_795_489_800_123


def test_rows_from_avro_records_and_influx_points_give_the_same_kpi() -> None:
    start, end = datetime.fromtimestamp(T0 / 1000, UTC), datetime.fromtimestamp((T0 + MIN) / 1000, UTC)
    avro = {
        "campaign_id": "cmp-001", "window_start": start, "window_end": end,
        "views": 10, "clicks": 4, "add_to_carts": 2, "purchases": 1, "revenue_cents": 1999, "units": 1,
        "conversion_rate": 0.25, "avg_order_value_cents": 1999.0, "active_users": 3,
    }  # fmt: skip
    influx = {k: v for k, v in avro.items() if k not in ("window_start", "window_end")} | {"time": T0}
    from_avro, from_influx = CampaignKpi.of(avro), CampaignKpi.of(influx)
    assert from_avro.key == f"cmp-001|{T0}"
    assert from_avro == CampaignKpi("cmp-001", T0, 10, 4, 2, 1, 1999, 1, 3, T0 + MIN)
    assert from_influx == CampaignKpi("cmp-001", T0, 10, 4, 2, 1, 1999, 1, 3, None)
    seg = SegmentKpi.of({"gender": "F", "age_band": "25-34", "state": "CA", "time": T0, "revenue_cents": 5})
    assert (seg.key, seg.purchases, seg.users) == (f"F|25-34|CA|{T0}", 0, 0)


def test_latest_keeps_the_last_update_of_a_key_and_tombstones_remove() -> None:
    latest: Latest[CampaignKpi] = Latest()
    first, update = (
        campaign("c1", T0, purchases=1, revenue_cents=100),
        campaign("c1", T0, purchases=2, revenue_cents=250),
    )
    latest.put(first.key, first)
    latest.put(update.key, update)
    other = campaign("c2", T0, revenue_cents=7)
    latest.put(other.key, other)
    assert latest.values() == [update, other]
    latest.put(other.key, None)
    assert latest.values() == [update]
    old = campaign("c1", T0 - 90 * MIN)
    latest.put(old.key, old)
    latest.prune(keep_ms=60 * MIN)
    assert latest.values() == [update]


def test_view_totals_rankings_and_horizon() -> None:
    campaigns = [
        campaign("c1", T0, views=100, clicks=20, purchases=4, revenue_cents=40_000),
        campaign("c2", T0, views=50, clicks=10, purchases=1, revenue_cents=9_999),
        campaign("c1", T0 + MIN, views=10, clicks=5, purchases=1, revenue_cents=5_000),
        campaign("c3", T0 + MIN, views=10, clicks=0, purchases=0),
        campaign("c9", T0 - 10 * MIN, clicks=1, purchases=1, revenue_cents=1_000_000),  # outside the horizon
    ]
    segments = [
        segment("F", "25-34", "CA", T0, 30_000, 3),
        segment("M", "25-34", "NY", T0, 19_999, 2),
        segment("F", "18-24", "NY", T0 + MIN, 5_000, 1),
        segment("X", "65+", "TX", T0 - 10 * MIN, 1_000_000, 1),  # outside the horizon
    ]
    view = build_view(campaigns, segments, "test", MIN, horizon=3, top=2)
    assert [(w.window_start_ms, w.revenue_cents, w.purchases, w.clicks) for w in view.windows] == [
        (T0, 49_999, 5, 30),
        (T0 + MIN, 5_000, 1, 5),
    ]
    assert (view.revenue_cents, view.purchases) == (54_999, 6)
    assert view.conversion == pytest.approx(6 / 35)
    assert view.last_closed == view.windows[0]
    assert view.per_minute(view.windows[0].revenue_cents) == 49_999
    assert [(c.campaign_id, c.revenue_cents, c.purchases, c.clicks) for c in view.top_campaigns] == [
        ("c1", 45_000, 5, 25),
        ("c2", 9_999, 1, 10),
    ]
    assert view.top_campaigns[0].conversion == pytest.approx(0.2)
    assert view.top_campaigns[0].avg_order_value_cents == 9_000
    assert [(s.value, s.revenue_cents, s.purchases) for s in view.by_gender] == [
        ("F", 35_000, 4),
        ("M", 19_999, 2),
    ]
    assert [(s.value, s.revenue_cents) for s in view.by_age_band] == [("18-24", 5_000), ("25-34", 49_999)]
    assert [(s.value, s.revenue_cents) for s in view.by_state] == [("CA", 30_000), ("NY", 24_999)]


def test_per_minute_scales_other_windows_and_empty_view_is_zero() -> None:
    view = build_view([campaign("c1", T0, revenue_cents=3_000)], [], "x", 30_000)
    assert view.per_minute(3_000) == 6_000
    assert view.last_closed == view.windows[0]  # one window only: it is what there is
    empty = build_view([], [], "none", MIN)
    assert empty == KpiView("none", MIN, [], [], [], [], [])
    assert (empty.conversion, empty.last_closed) == (0.0, None)


def test_window_length_is_read_from_the_records() -> None:
    thirty = CampaignKpi("c", T0, 0, 0, 0, 0, 0, 0, 0, T0 + 30_000)
    assert common_window_ms([thirty, thirty, campaign("c", T0)], 1) == 30_000
    assert common_window_ms([CampaignKpi("c", T0, 0, 0, 0, 0, 0, 0, 0)], 60_000) == 60_000

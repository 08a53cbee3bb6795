"""One table of events and the reasons the business rules (shopstream/rules.py) give them: the
Python predicate (the producer's) and the Spark expression (the job's) are both tested on it, so the
two cannot drift. Reasons are written out here, as a DLQ reader sees them.

Every case is judged at ``NOW`` with the rules' defaults (60 s of clock skew, ``cmp-[0-9]{3}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shopstream.rules import Rules

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z
FLOOR = 1_577_836_800_000  # 2020-01-01T00:00:00Z
RULES = Rules(max_skew_s=60, campaign_pattern="cmp-[0-9]{3}")

VIEW: dict[str, Any] = {
    "event_id": "e-view",
    "event_time": NOW - 5_000,
    "user_id": 7,
    "session_id": "s-1",
    "campaign_id": "cmp-007",
    "tag": "view",
    "order_id": None,
    "sku": "sku-00042",
    "category": "books",
    "total_amount_cents": 0,
    "units": 0,
    "device": "mobile",
    "coupon_code": None,
}
PURCHASE = {
    **VIEW,
    "event_id": "e-buy",
    "tag": "purchase",
    "order_id": "o-1",
    "units": 2,
    "total_amount_cents": 2_998,
}


@dataclass(frozen=True)
class Case:
    name: str
    event: dict[str, Any]
    reason: str | None  # None: the event counts


def _case(name: str, base: dict[str, Any], reason: str | None, **changes: Any) -> Case:
    return Case(name, {**base, "event_id": f"e-{name}", **changes}, reason)


def _broken(*texts: str) -> str:
    return "rule violated: " + "; ".join(texts)


CASES: tuple[Case, ...] = (
    _case("a view", VIEW, None),
    _case("a click", VIEW, None, tag="click"),
    _case("an add to cart", VIEW, None, tag="add_to_cart"),
    _case("a purchase", PURCHASE, None),
    _case("a purchase of 1 unit at 1 cent", PURCHASE, None, units=1, total_amount_cents=1),
    # amounts and units
    _case("a negative amount on a view", VIEW, _broken("negative amount"), total_amount_cents=-1),
    _case("a negative amount on a purchase", PURCHASE, _broken("negative amount"), total_amount_cents=-2_998),
    _case("negative units on a purchase", PURCHASE, _broken("negative units"), units=-1),
    _case("a purchase with 0 units", PURCHASE, _broken("purchase with 0 units"), units=0),
    _case("a purchase with amount 0", PURCHASE, _broken("purchase with amount 0"), total_amount_cents=0),
    _case(
        "a purchase of nothing",
        PURCHASE,
        _broken("purchase with 0 units", "purchase with amount 0"),
        units=0,
        total_amount_cents=0,
    ),
    _case("a view with units", VIEW, _broken("units or amount on a non-purchase event"), units=1),
    _case(
        "an add to cart with an amount",
        VIEW,
        _broken("units or amount on a non-purchase event"),
        tag="add_to_cart",
        total_amount_cents=1_499,
    ),
    # event time
    _case("an event in 1970", VIEW, _broken("event time before 2020-01-01"), event_time=0),
    _case("an event before 1970", VIEW, _broken("event time before 2020-01-01"), event_time=-1),
    _case(
        "an event 1 ms before the floor", VIEW, _broken("event time before 2020-01-01"), event_time=FLOOR - 1
    ),
    _case("an event at the floor", VIEW, None, event_time=FLOOR),
    _case("an event at the skew limit", VIEW, None, event_time=NOW + 60_000),
    _case(
        "an event 1 ms past the skew limit",
        VIEW,
        _broken("event time more than 60 s in the future"),
        event_time=NOW + 60_001,
    ),
    _case(
        "an event in 2100",
        PURCHASE,
        _broken("event time more than 60 s in the future"),
        event_time=4_102_444_800_000,
    ),
    # campaigns
    _case("the first campaign", VIEW, None, campaign_id="cmp-000"),
    _case("the last campaign", VIEW, None, campaign_id="cmp-999"),
    _case("an unknown campaign", VIEW, _broken("unknown campaign"), campaign_id="spring-sale"),
    _case("an empty campaign", VIEW, _broken("unknown campaign"), campaign_id=""),
    _case("a campaign with 4 digits", VIEW, _broken("unknown campaign"), campaign_id="cmp-1000"),
    _case("a campaign in capitals", VIEW, _broken("unknown campaign"), campaign_id="CMP-007"),
    _case("a campaign inside a longer id", VIEW, _broken("unknown campaign"), campaign_id="x-cmp-007"),
    _case("a campaign with a line break", VIEW, _broken("unknown campaign"), campaign_id="cmp-007\n"),
    _case(
        "a campaign with Arabic-Indic digits",
        VIEW,
        _broken("unknown campaign"),
        campaign_id="cmp-\u0660\u0660\u0667",
    ),
    # several at once: every reason, in the rules' order
    _case(
        "everything wrong",
        PURCHASE,
        _broken(
            "negative amount",
            "purchase with 0 units",
            "event time before 2020-01-01",
            "unknown campaign",
        ),
        units=0,
        total_amount_cents=-5,
        event_time=86_400_000,
        campaign_id="cmp-x",
    ),
)

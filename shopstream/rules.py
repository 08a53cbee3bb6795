"""The business rules of a shop event: what a record must satisfy, besides fitting its Avro contract,
to count in the pipeline. Defined once, here; enforced at both ends:

- the producer refuses a record that breaks one before sending it, with the reason, and counts it
  (``Rules.checker``, used by ``producer/sender.py``);
- the Spark job dead-letters a record that breaks one, from whichever producer, with the reason
  in ``dlq.reason``, and leaves it out of the KPIs (``spark_job/rule_columns.py``: the same rules as Spark
  expressions, built from the ``Rule`` list and texts below; the unit tests run the Python predicate
  and the Spark expression on one table of cases).

Broken when -> reason (after ``rule violated: ``):

- ``total_amount_cents < 0`` -> ``negative amount``
- ``units < 0`` -> ``negative units``
- a purchase with ``units = 0`` -> ``purchase with 0 units``
- a purchase with ``total_amount_cents = 0`` -> ``purchase with amount 0``
- another tag with ``units > 0`` or ``total_amount_cents > 0`` -> ``units or amount on a
  non-purchase event``
- ``event_time`` before 2020-01-01T00:00:00Z -> ``event time before 2020-01-01``
- ``event_time`` later than now + ``SHOPSTREAM_MAX_EVENT_TIME_SKEW_S`` -> ``event time more than
  N s in the future``
- ``campaign_id`` not matching ``SHOPSTREAM_CAMPAIGN_ID_PATTERN`` in full -> ``unknown campaign``

The first five are the contract's own words ("units ordered on purchases (>= 1); 0 for other
events", "order total in cents on purchases; 0 for other events"; a purchase's total is units x unit
price, so >= 1 unit makes it > 0). A record breaking several gets every reason, in this order:
``rule violated: purchase with 0 units; unknown campaign``.

"now" is the clock of whoever judges: the producer's at send time; in the Spark job the record's
Kafka timestamp (the producer's clock at send time again, or the broker's with LogAppendTime), or
the job's wall clock if that is earlier, so that both queries, and a replay after a restart, judge
a record alike. The known campaigns are a pattern, not a list: no campaign catalogue exists that the
job could read (the traffic model makes ``cmp-000`` .. ``cmp-999``); a catalogue table would be
joined like the demographics.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema
from shopstream.errors import ContractError
from shopstream.settings import Settings

REASON_PREFIX = "rule violated: "
PURCHASE = "purchase"
EVENT_TIME_FLOOR = datetime(2020, 1, 1, tzinfo=UTC)
EVENT_TIME_FLOOR_MS = int(EVENT_TIME_FLOOR.timestamp() * 1000)
# the fields the rules read; each must be in the event contract
FIELDS = ("tag", "units", "total_amount_cents", "event_time", "campaign_id")
_KNOWN_CAMPAIGNS_KEPT = 100_000  # the producer's memo of campaign ids that matched


def clock_ms() -> int:
    """This machine's clock, epoch ms."""
    return time.time_ns() // 1_000_000


class Rule(StrEnum):
    """The rules, in the order their reasons are listed."""

    NEGATIVE_AMOUNT = "negative_amount"
    NEGATIVE_UNITS = "negative_units"
    PURCHASE_WITHOUT_UNITS = "purchase_without_units"
    PURCHASE_WITHOUT_AMOUNT = "purchase_without_amount"
    UNITS_OR_AMOUNT_NOT_ON_A_PURCHASE = "units_or_amount_not_on_a_purchase"
    BEFORE_FLOOR = "before_floor"
    IN_THE_FUTURE = "in_the_future"
    UNKNOWN_CAMPAIGN = "unknown_campaign"


def epoch_ms(value: int | datetime) -> int:
    """An event time as epoch ms: the producer's records carry ints; a datetime (which the Avro
    serializer also takes) counts as its instant (naive = local time, as fastavro reads it)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def _check_contract() -> None:
    """The rules read fields and a tag the event contract must have: fail loudly if it lost them."""
    schema = json.loads(load_schema(EVENT_SCHEMA_FILES[max(EVENT_SCHEMA_FILES)]))
    fields = {f["name"]: f for f in schema["fields"]}
    lost = [name for name in FIELDS if name not in fields]
    if lost:
        raise ContractError(f"the event rules read {lost}, which the event contract no longer has")
    if PURCHASE not in fields["tag"]["type"]["symbols"]:
        raise ContractError(f"the event rules need the tag {PURCHASE!r}, which the event contract lacks")


@dataclass(frozen=True)
class Rules:
    """The rules with their two settings: how far in the future an event time may be, and the
    pattern of the known campaign ids."""

    max_skew_s: int = 60
    campaign_pattern: str = "cmp-[0-9]{3}"

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        _check_contract()
        return cls(settings.rules.max_event_time_skew_s, settings.rules.campaign_id_pattern)

    @property
    def max_skew_ms(self) -> int:
        return self.max_skew_s * 1000

    def text(self, rule: Rule) -> str:
        """The reason a broken rule is given as (after ``REASON_PREFIX``)."""
        return {
            Rule.NEGATIVE_AMOUNT: "negative amount",
            Rule.NEGATIVE_UNITS: "negative units",
            Rule.PURCHASE_WITHOUT_UNITS: "purchase with 0 units",
            Rule.PURCHASE_WITHOUT_AMOUNT: "purchase with amount 0",
            Rule.UNITS_OR_AMOUNT_NOT_ON_A_PURCHASE: "units or amount on a non-purchase event",
            Rule.BEFORE_FLOOR: f"event time before {EVENT_TIME_FLOOR.date().isoformat()}",
            Rule.IN_THE_FUTURE: f"event time more than {self.max_skew_s} s in the future",
            Rule.UNKNOWN_CAMPAIGN: "unknown campaign",
        }[rule]

    def reason_of(self, broken: list[Rule]) -> str | None:
        """``rule violated: <text>; <text>`` for the broken rules, None for none."""
        return REASON_PREFIX + "; ".join(self.text(rule) for rule in broken) if broken else None

    def broken(self, event: Mapping[str, Any], now_ms: int) -> list[Rule]:
        """The rules a record (fitting the event contract) breaks, in order; empty if it keeps them."""
        amount, units = event["total_amount_cents"], event["units"]
        purchase = event["tag"] == PURCHASE
        event_ms = epoch_ms(event["event_time"])
        checks = {
            Rule.NEGATIVE_AMOUNT: amount < 0,
            Rule.NEGATIVE_UNITS: units < 0,
            Rule.PURCHASE_WITHOUT_UNITS: purchase and units == 0,
            Rule.PURCHASE_WITHOUT_AMOUNT: purchase and amount == 0,
            Rule.UNITS_OR_AMOUNT_NOT_ON_A_PURCHASE: not purchase and (units > 0 or amount > 0),
            Rule.BEFORE_FLOOR: event_ms < EVENT_TIME_FLOOR_MS,
            Rule.IN_THE_FUTURE: event_ms > now_ms + self.max_skew_ms,
            Rule.UNKNOWN_CAMPAIGN: re.fullmatch(self.campaign_pattern, event["campaign_id"]) is None,
        }
        return [rule for rule, is_broken in checks.items() if is_broken]

    def reason(self, event: Mapping[str, Any], now_ms: int) -> str | None:
        """Why a record does not count (every broken rule), or None."""
        return self.reason_of(self.broken(event, now_ms))

    def checker(self, clock: Callable[[], int] = clock_ms) -> Callable[[Mapping[str, Any]], str | None]:
        """``reason`` against ``clock`` now, for the producer's hot path: a record that keeps every
        rule passes one combined test (the campaign ids that matched the pattern are remembered),
        the others get their reasons from ``broken``."""
        floor, skew = EVENT_TIME_FLOOR_MS, self.max_skew_ms
        matches = re.compile(self.campaign_pattern).fullmatch
        known: set[str] = set()
        reason = self.reason

        def check(event: Mapping[str, Any]) -> str | None:
            t = event["event_time"]
            if event["campaign_id"] in known and type(t) is int and floor <= t <= clock() + skew:
                units, amount = event["units"], event["total_amount_cents"]
                if event["tag"] == PURCHASE:
                    if units > 0 and amount > 0:
                        return None
                elif units == 0 and amount == 0:
                    return None
            campaign = event["campaign_id"]
            if len(known) < _KNOWN_CAMPAIGNS_KEPT and matches(campaign) is not None:
                known.add(campaign)
            return reason(event, clock())

        return check

"""The events' business rules (``shopstream/rules.py``) as Spark expressions: columnar, no UDF.

``broken_rules`` gives the same reason the producer's check gives (``Rules.reason``) or null; the
unit tests run both on one table of cases. ``decode`` turns a reason into the record's error, so
the enrichment dead-letters the record and the KPI query leaves it out.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from shopstream.rules import EVENT_TIME_FLOOR_MS, PURCHASE, REASON_PREFIX, Rule, Rules


def wall_clock() -> Column:
    """Now, per row: ``current_timestamp()`` is fixed per batch, and a real-time batch lasts long."""
    return F.timestamp_millis(F.expr("java_method('java.lang.System', 'currentTimeMillis')").cast("long"))


def judging_time() -> Column:
    """The clock a Kafka record is judged by: its Kafka timestamp (the producer's clock when it sent
    it), or the wall clock if that is earlier (a producer whose clock runs ahead gains nothing)."""
    return F.least(F.col("timestamp"), wall_clock())


def broken_rules(rules: Rules, event: str = "event", now: Column | None = None) -> Column:
    """``rule violated: <reason>; ...`` for the rules the struct column ``event`` breaks, in the rules'
    order; null when it keeps them all (and when ``event`` is null). ``now`` defaults to
    ``judging_time()`` of the row's Kafka timestamp."""

    def field(name: str) -> Column:
        return F.col(f"{event}.{name}")

    amount, units = field("total_amount_cents"), field("units")
    purchase = field("tag") == F.lit(PURCHASE)
    event_ms = F.unix_millis(field("event_time"))
    now_ms = F.unix_millis(judging_time() if now is None else now)
    # Java's find() with ^ and \z: a full match, as Python's re.fullmatch (Java's $ would also
    # match before a final line break)
    campaign_ok = field("campaign_id").rlike(f"^(?:{rules.campaign_pattern})\\z")
    checks: dict[Rule, Column] = {
        Rule.NEGATIVE_AMOUNT: amount < 0,
        Rule.NEGATIVE_UNITS: units < 0,
        Rule.PURCHASE_WITHOUT_UNITS: purchase & (units == 0),
        Rule.PURCHASE_WITHOUT_AMOUNT: purchase & (amount == 0),
        Rule.UNITS_OR_AMOUNT_NOT_ON_A_PURCHASE: ~purchase & ((units > 0) | (amount > 0)),
        Rule.BEFORE_FLOOR: event_ms < F.lit(EVENT_TIME_FLOOR_MS),
        Rule.IN_THE_FUTURE: event_ms > now_ms + F.lit(rules.max_skew_ms),
        Rule.UNKNOWN_CAMPAIGN: ~campaign_ok,
    }
    if list(checks) != list(Rule):  # every rule, in the listed order: the reasons' order
        raise AssertionError(f"Spark expressions for {list(checks)}, rules {list(Rule)}")
    reasons = F.concat_ws("; ", *(F.when(broken, F.lit(rules.text(rule))) for rule, broken in checks.items()))
    return F.when(reasons != F.lit(""), F.concat(F.lit(REASON_PREFIX), reasons))

"""The KPIs a user watches, read from InfluxDB when it has points, else from the KPI topics.

The Spark job emits a window's totals again each time the window changes (update mode); the record
key and InfluxDB's point identity are both ``dimensions | window start``, so the latest emission of
a key replaces the earlier ones. Reading the topics, this module keeps the latest record per key,
as the InfluxDB sink would. Money stays integer cents until it is displayed.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.serialization import MessageField, SerializationContext

from shopstream.clients.influx import InfluxClient
from shopstream.clients.kafka import client_config
from shopstream.clients.registry import avro_deserializer
from shopstream.contracts import CAMPAIGN_MEASUREMENT, SEGMENT_MEASUREMENT
from shopstream.errors import InfluxError
from shopstream.settings import Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS_MS = {"second": 1_000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


def window_ms_of(interval: str, default: int = 60_000) -> int:
    """Milliseconds of a Spark interval such as '1 minute' or '30 seconds'."""
    match = re.fullmatch(r"\s*(\d+)\s*(second|minute|hour|day)s?\s*", interval.lower())
    return int(match.group(1)) * _UNITS_MS[match.group(2)] if match else default


def epoch_ms(value: Any) -> int:
    """A timestamp-millis value as decoded (aware datetime) or as stored (int ms), in epoch ms."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(milliseconds=1)
    return int(value)


def _int(row: Mapping[str, Any], name: str) -> int:
    """An integer field; absent (a point without it) counts 0."""
    return int(row.get(name) or 0)


@dataclass(frozen=True)
class CampaignKpi:
    campaign_id: str
    window_start_ms: int
    views: int
    clicks: int
    add_to_carts: int
    purchases: int
    revenue_cents: int
    units: int
    active_users: int
    window_end_ms: int | None = None

    @property
    def key(self) -> str:
        return f"{self.campaign_id}|{self.window_start_ms}"

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> CampaignKpi:
        """From a decoded Avro record or an InfluxDB row (``time`` = window start)."""
        return _of(cls, row)


@dataclass(frozen=True)
class SegmentKpi:
    gender: str
    age_band: str
    state: str
    window_start_ms: int
    revenue_cents: int
    purchases: int
    users: int
    window_end_ms: int | None = None

    @property
    def key(self) -> str:
        return f"{self.gender}|{self.age_band}|{self.state}|{self.window_start_ms}"

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> SegmentKpi:
        return _of(cls, row)


Kpi = TypeVar("Kpi", CampaignKpi, SegmentKpi)


def _of(cls: type[Kpi], row: Mapping[str, Any]) -> Kpi:
    """One reader for both KPI records: dimensions as text, counts as integers (absent: 0), the
    window from ``window_start``/``window_end`` (Avro) or ``time`` (an InfluxDB point's)."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name == "window_start_ms":
            values[f.name] = epoch_ms(row["window_start"] if "window_start" in row else row["time"])
        elif f.name == "window_end_ms":
            end = row.get("window_end")
            values[f.name] = epoch_ms(end) if end is not None else None
        elif f.type == "str":
            values[f.name] = str(row[f.name])
        else:
            values[f.name] = _int(row, f.name)
    return cls(**values)


@dataclass
class Latest(Generic[Kpi]):
    """The latest record per key (a later record of a key replaces it; a tombstone removes it)."""

    records: dict[str, Kpi] = field(default_factory=dict)

    def put(self, key: str, record: Kpi | None) -> None:
        if record is None:
            self.records.pop(key, None)
        else:
            self.records[key] = record

    def prune(self, keep_ms: int) -> None:
        """Forget windows older than ``keep_ms`` before the newest window (bounded memory)."""
        if self.records:
            newest = max(r.window_start_ms for r in self.records.values())
            self.records = {k: r for k, r in self.records.items() if r.window_start_ms > newest - keep_ms}

    def values(self) -> list[Kpi]:
        return list(self.records.values())


# --- the view model -----------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowTotal:
    window_start_ms: int
    revenue_cents: int
    purchases: int
    clicks: int
    views: int

    @property
    def conversion(self) -> float:
        return self.purchases / self.clicks if self.clicks else 0.0


@dataclass(frozen=True)
class CampaignTotal:
    campaign_id: str
    revenue_cents: int
    purchases: int
    clicks: int
    views: int
    units: int

    @property
    def conversion(self) -> float:
        return self.purchases / self.clicks if self.clicks else 0.0

    @property
    def avg_order_value_cents(self) -> float:
        return self.revenue_cents / self.purchases if self.purchases else 0.0


@dataclass(frozen=True)
class SegmentTotal:
    value: str
    revenue_cents: int
    purchases: int


@dataclass(frozen=True)
class KpiView:
    """KPIs over the last ``horizon`` windows (counted back from the newest window seen)."""

    source: str
    window_ms: int
    windows: list[WindowTotal]  # oldest first; the last one is still open
    top_campaigns: list[CampaignTotal]
    by_gender: list[SegmentTotal]
    by_age_band: list[SegmentTotal]
    by_state: list[SegmentTotal]

    @property
    def revenue_cents(self) -> int:
        return sum(w.revenue_cents for w in self.windows)

    @property
    def purchases(self) -> int:
        return sum(w.purchases for w in self.windows)

    @property
    def conversion(self) -> float:
        clicks = sum(w.clicks for w in self.windows)
        return self.purchases / clicks if clicks else 0.0

    def per_minute(self, cents: int) -> float:
        return cents * 60_000 / self.window_ms

    @property
    def last_closed(self) -> WindowTotal | None:
        """The newest window before the open one (the open one alone when there is only one)."""
        if not self.windows:
            return None
        return self.windows[-2] if len(self.windows) >= 2 else self.windows[-1]


def _by(segments: Iterable[SegmentKpi], dim: str, top: int | None) -> list[SegmentTotal]:
    revenue: dict[str, int] = defaultdict(int)
    purchases: dict[str, int] = defaultdict(int)
    for s in segments:
        value = str(getattr(s, dim))
        revenue[value] += s.revenue_cents
        purchases[value] += s.purchases
    ranked = sorted(revenue, key=lambda v: (-revenue[v], v))
    return [SegmentTotal(v, revenue[v], purchases[v]) for v in ranked[:top]]


def build_view(
    campaigns: Iterable[CampaignKpi],
    segments: Iterable[SegmentKpi],
    source: str,
    window_ms: int,
    horizon: int = 10,
    top: int = 5,
) -> KpiView:
    """Aggregate the latest records of the last ``horizon`` windows into what the view shows."""
    campaigns, segments = list(campaigns), list(segments)
    starts = [r.window_start_ms for r in campaigns] + [r.window_start_ms for r in segments]
    since = max(starts) - horizon * window_ms if starts else 0
    campaigns = [c for c in campaigns if c.window_start_ms > since]
    segments = [s for s in segments if s.window_start_ms > since]
    windows: dict[int, list[CampaignKpi]] = defaultdict(list)
    per_campaign: dict[str, list[CampaignKpi]] = defaultdict(list)
    for c in campaigns:
        windows[c.window_start_ms].append(c)
        per_campaign[c.campaign_id].append(c)

    def total(rows: list[CampaignKpi], name: str) -> int:
        return sum(getattr(r, name) for r in rows)

    ranked = sorted(
        (
            CampaignTotal(
                cid, total(rows, "revenue_cents"), total(rows, "purchases"), total(rows, "clicks"),
                total(rows, "views"), total(rows, "units"),
            )
            for cid, rows in per_campaign.items()
        ),
        key=lambda t: (-t.revenue_cents, t.campaign_id),
    )  # fmt: skip
    return KpiView(
        source=source,
        window_ms=window_ms,
        windows=[
            WindowTotal(start, *(total(rows, n) for n in ("revenue_cents", "purchases", "clicks", "views")))
            for start, rows in sorted(windows.items())
        ],
        top_campaigns=ranked[:top],
        by_gender=_by(segments, "gender", None),
        by_age_band=sorted(_by(segments, "age_band", None), key=lambda s: s.value),
        by_state=_by(segments, "state", top),
    )


def common_window_ms(records: Iterable[CampaignKpi | SegmentKpi], default: int) -> int:
    spans = Counter(r.window_end_ms - r.window_start_ms for r in records if r.window_end_ms is not None)
    return spans.most_common(1)[0][0] if spans else default


# --- readers ------------------------------------------------------------------------------------
class KafkaKpiReader:
    """Reads the KPI topics from the beginning, then incrementally; keeps the latest per key."""

    def __init__(self, settings: Settings, keep_ms: int = 3_600_000) -> None:
        self.settings = settings
        self.keep_ms = keep_ms
        self.topics = {settings.topics.kpi_campaign: "campaign", settings.topics.kpi_segment: "segment"}
        self.consumer = Consumer(
            {
                **client_config(settings.kafka, "admin"),  # the monitor: an operator's tool
                "group.id": f"shopstream-monitor-{uuid.uuid4().hex[:8]}",  # never commits
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.deserializer = avro_deserializer(settings.registry)
        self.campaigns: Latest[CampaignKpi] = Latest()
        self.segments: Latest[SegmentKpi] = Latest()
        self.next_offset: dict[tuple[str, int], int] = {}
        self.undecodable = 0

    def _assign(self) -> None:
        metadata = self.consumer.list_topics(timeout=10)
        wanted = [(t, p) for t in self.topics if t in metadata.topics for p in metadata.topics[t].partitions]
        if set(wanted) != set(self.next_offset):
            self.consumer.assign(
                [TopicPartition(t, p, self.next_offset.get((t, p), OFFSET_BEGINNING)) for t, p in wanted]
            )
            self.next_offset = {tp: self.next_offset.get(tp, 0) for tp in wanted}

    def _apply(self, message: Message) -> None:
        topic, raw, key = message.topic() or "", message.value(), message.key()
        kind = self.topics[topic]
        record = None
        if raw is not None:
            try:
                value = self.deserializer(raw, SerializationContext(topic, MessageField.VALUE))
                record = (CampaignKpi if kind == "campaign" else SegmentKpi).of(value or {})
            except Exception:  # a record no schema decodes is skipped and counted, never fatal
                self.undecodable += 1
                return
        name = key.decode(errors="replace") if key else (record.key if record else "")
        if kind == "campaign":
            self.campaigns.put(name, record if isinstance(record, CampaignKpi) else None)
        else:
            self.segments.put(name, record if isinstance(record, SegmentKpi) else None)

    def refresh(self, budget_s: float = 3.0) -> None:
        """Consume what arrived since the last call (up to the end offsets seen now, or the budget)."""
        self._assign()
        behind = {}
        for (topic, partition), at in self.next_offset.items():
            low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
            if max(at, low) < high:
                behind[(topic, partition)] = high
        deadline = time.monotonic() + budget_s
        while behind and time.monotonic() < deadline:
            for message in self.consumer.consume(5_000, 0.2):
                if message.error():
                    continue
                tp = (message.topic() or "", message.partition() or 0)
                self.next_offset[tp] = (message.offset() or 0) + 1
                self._apply(message)
                if tp in behind and self.next_offset[tp] >= behind[tp]:
                    del behind[tp]
        self.campaigns.prune(self.keep_ms)
        self.segments.prune(self.keep_ms)

    def close(self) -> None:
        self.consumer.close()


class InfluxKpiReader:
    """KPI points in InfluxDB (``kpi_campaign``, ``kpi_segment``; time = window start)."""

    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.client = InfluxClient(settings.influxdb, database)

    def newest_ms(self, measurement: str) -> int | None:
        series = self.client.query(f'SELECT last("revenue_cents") FROM "{measurement}"')
        times = [int(row["time"]) for s in series for row in s.rows]
        return max(times) if times else None

    def read(self, span_ms: int) -> tuple[list[CampaignKpi], list[SegmentKpi]] | None:
        """Points of the last ``span_ms`` before the newest point; None when there is no point."""
        newest = [t for t in map(self.newest_ms, (CAMPAIGN_MEASUREMENT, SEGMENT_MEASUREMENT)) if t]
        if not newest:
            return None
        since_ms = max(newest) - span_ms

        def rows(measurement: str) -> list[dict[str, Any]]:
            q = f'SELECT * FROM "{measurement}" WHERE time > {since_ms}ms'
            return [row for s in self.client.query(q) for row in s.rows]

        return (
            [CampaignKpi.of(r) for r in rows(CAMPAIGN_MEASUREMENT)],
            [SegmentKpi.of(r) for r in rows(SEGMENT_MEASUREMENT)],
        )

    def close(self) -> None:
        self.client.close()


class KpiSource:
    """InfluxDB while the KPI sink connectors run; otherwise (and said so) the Spark job's KPI
    topics in Kafka, the latest record per key as the sink would write them."""

    def __init__(
        self, settings: Settings, horizon: int = 10, top: int = 5, database: str | None = None
    ) -> None:
        self.settings = settings
        self.horizon = horizon
        self.top = top
        self.window_ms = window_ms_of(settings.spark.window)
        self.influx = InfluxKpiReader(settings, database)
        self.kafka: KafkaKpiReader | None = None

    def view(self, kpi_sinks_running: bool, sink_installed: bool = False) -> KpiView:
        s = self.settings
        if kpi_sinks_running:
            try:
                points = self.influx.read(self.horizon * self.window_ms)
            except InfluxError as exc:  # any other error is the view's to show
                if "database not found" not in exc.message:
                    raise
                points = None  # the sinks create the database with their first write
            campaigns, segments = points or ([], [])
            source = f"KPIs from InfluxDB (database {self.influx.client.database})"
            if points is None:
                source += ": no KPI points yet"
            return build_view(campaigns, segments, source, self.window_ms, self.horizon, self.top)
        if self.kafka is None:
            self.kafka = KafkaKpiReader(s)
        with contextlib.suppress(KafkaException):  # shows what was read; the stage table shows Kafka's state
            self.kafka.refresh()
        why = "the KPI sink connectors are not running" if sink_installed else "no InfluxDB sink deployed"
        source = f"KPIs from Kafka topics {s.topics.kpi_campaign}, {s.topics.kpi_segment} ({why})"
        campaigns_read, segments_read = self.kafka.campaigns.values(), self.kafka.segments.values()
        window_ms = common_window_ms([*campaigns_read, *segments_read], self.window_ms)
        return build_view(campaigns_read, segments_read, source, window_ms, self.horizon, self.top)

    def close(self) -> None:
        self.influx.close()
        if self.kafka is not None:
            self.kafka.close()

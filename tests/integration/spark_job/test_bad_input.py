"""Bad input on the real stack (README "Bad input"): N good records with k bad ones among them, in
one partition, through the running job, in both enrichment modes. Exactly N enriched records, in
the order they were produced; exactly k dead letters, each with its reason, in order; good + DLQ =
produced; KPIs of the good events only; and neither a query nor the job restarted on the way: a bad
record costs the pipeline nothing but its dead letter.

Semantic rules (shopstream/rules.py): each bad record is first offered to our producer, which
refuses it with the reason and counts it; then it is written raw with the registered schema id, as
a producer that does not check would write it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Message, Producer

from producer.avro_codec import compile_encoder
from producer.sender import EventSender, InvalidRecord
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.clients.kafka import client_config
from shopstream.ops import demographics
from shopstream.ops.jobs import SparkJob
from shopstream.settings import Settings
from spark_job.decode import NEW_IDS
from tests import oracle
from tests.integration.conftest import ReadTopic
from tests.integration.spark_job.kpi_reads import (
    decoder,
    header,
    latest_segment_kpis,
    wait_for_kpis,
)

N = 600
KEY = b"one-partition"  # every record of a test in one partition: order is observable
Event = dict[str, Any]


@dataclass(frozen=True)
class Bad:
    """A bad record as written to Kafka (None: a tombstone) and the reason it must be dead-lettered with."""

    value: bytes | None
    reason: str


def _interleave(good: list[Any], bad: list[Any]) -> Iterator[tuple[bool, Any]]:
    """The good ones in order with the bad ones spread evenly among them (never first or last)."""
    every = len(good) // (len(bad) + 1)
    pending = list(bad)
    for i, item in enumerate(good):
        if i and i % every == 0 and pending:
            yield False, pending.pop(0)
        yield True, item


def _good_events(seed: int) -> list[Event]:
    # users up to 120,000: some without demographics (kept, unenriched); event time from now on
    return TrafficModel(TrafficConfig(seed=seed, users=120_000, events_per_second=2_000)).take(N)


def _produce_raw(settings: Settings, values: list[bytes | None]) -> None:
    producer = Producer(client_config(settings.kafka, "admin"))
    for value in values:
        producer.produce(settings.topics.events, value=value, key=KEY)
    assert producer.flush(10) == 0


def _read_exactly(read_topic: ReadTopic, topic: str, count: int) -> list[Message]:
    """The topic's records once it holds ``count`` and went quiet (more would be a failure)."""
    read_topic(topic, expected=count, timeout_s=180)
    return read_topic(topic, quiet_s=3, timeout_s=60)


def _assert_exact_outcome(
    settings: Settings,
    job: SparkJob,
    read_topic: ReadTopic,
    good: list[Event],
    bad: list[Bad],
) -> None:
    """N enriched in order, k dead letters in order with their reasons, KPIs of the good only,
    nothing restarted."""
    enriched = _read_exactly(read_topic, settings.topics.enriched, len(good))
    decode = decoder(settings, settings.topics.enriched)
    assert [decode(m)["event_id"] for m in enriched] == [e["event_id"] for e in good]  # each once, in order

    dlq = _read_exactly(read_topic, settings.topics.events_dlq, len(bad))
    assert [(m.value(), header(m, "dlq.reason")) for m in dlq] == [(b.value, b.reason) for b in bad]
    offsets = [int(header(m, "dlq.source.offset")) for m in dlq]
    assert offsets == sorted(offsets)
    assert len(enriched) + len(dlq) == len(good) + len(bad)  # good + DLQ = produced

    expected = oracle.campaign_kpis(good)
    assert wait_for_kpis(settings, read_topic, expected) == expected
    people = {row[0]: row for row in demographics.generate(100_000, 42)}
    assert latest_segment_kpis(settings, read_topic) == oracle.segment_kpis(good, people)

    # no query stopped and was restarted (the runner says "query <name> failed ...; restart n" or
    # "query <name>: schema id ... restarting"), nor the job's process
    assert re.findall(r"^query \w+.*$", job.log.read_text(), re.M) == []
    assert job.restarts() == 0


def _bad_events(now_ms: int) -> list[tuple[Event, str]]:
    """One of each kind of semantically bad record, from traffic of its own (distinct event ids),
    and the reason each must get."""
    stream = iter(TrafficModel(TrafficConfig(seed=77, events_per_second=2_000)).take(20_000))

    def a(tag: str) -> Event:
        return next(e for e in stream if e["tag"] == tag)

    def broken(*texts: str) -> str:
        return "rule violated: " + "; ".join(texts)

    day = 86_400_000
    return [
        ({**a("view"), "total_amount_cents": -1}, broken("negative amount")),
        ({**a("purchase"), "total_amount_cents": -4_999}, broken("negative amount")),
        ({**a("purchase"), "units": 0}, broken("purchase with 0 units")),
        ({**a("purchase"), "total_amount_cents": 0}, broken("purchase with amount 0")),
        ({**a("click"), "units": 2}, broken("units or amount on a non-purchase event")),
        ({**a("view"), "event_time": 0}, broken("event time before 2020-01-01")),
        ({**a("add_to_cart"), "event_time": 1_577_836_799_999}, broken("event time before 2020-01-01")),
        ({**a("view"), "event_time": now_ms + 600_000}, broken("event time more than 60 s in the future")),
        (
            {**a("purchase"), "event_time": 4_102_444_800_000},
            broken("event time more than 60 s in the future"),
        ),
        ({**a("click"), "event_time": now_ms + 365 * day}, broken("event time more than 60 s in the future")),
        ({**a("view"), "campaign_id": "spring-sale"}, broken("unknown campaign")),
        ({**a("purchase"), "campaign_id": "cmp-1000"}, broken("unknown campaign")),
        (
            {**a("purchase"), "units": 0, "campaign_id": ""},
            broken("purchase with 0 units", "unknown campaign"),
        ),
    ]


@pytest.mark.parametrize("job", ["realtime", "microbatch"], indirect=True)
def test_rule_breaking_records_are_refused_by_the_producer_and_dead_lettered_by_the_job(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    settings = job_env
    job.start()
    good = _good_events(seed=61)
    bad_events = _bad_events(int(time.time() * 1000))
    sender = EventSender(settings)
    encode = compile_encoder(sender.schema_str, sender.schema_id)  # the bytes our producer would send
    refusals: list[str] = []
    bad: list[Bad] = []
    for is_good, item in _interleave(good, bad_events):
        if is_good:
            sender.send(item, KEY)
            continue
        event, reason = item
        with pytest.raises(InvalidRecord) as refused:
            sender.send(event, KEY)
        refusals.append(str(refused.value))
        assert sender.flush(30) == 0  # what came before it is in Kafka first: one partition, in order
        bad.append(Bad(encode(event), reason))
        _produce_raw(settings, [bad[-1].value])  # a producer that does not check
    assert sender.flush(30) == 0

    reasons = [reason for _event, reason in bad_events]
    assert refusals == [f"refused, not sent: {reason}" for reason in reasons]
    counters = sender.counters
    assert (counters.sent, counters.acked, counters.invalid) == (N, N, len(bad_events))
    assert counters.violations == {r: reasons.count(r) for r in reasons}
    _assert_exact_outcome(settings, job, read_topic, good, bad)


@pytest.mark.parametrize("job", ["realtime", "microbatch"], indirect=True)
def test_undecodable_records_are_dead_lettered_without_stopping_anything(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    """Corrupt bytes, wrong magic byte, unknown schema ids that cannot be versions registered since
    the start (below the subject's newest, or more than NEW_IDS above it), truncated Avro, a
    tombstone. (An unknown id just above the newest restarts the queries once: test_job.py.)"""
    settings = job_env
    job.start()
    good = _good_events(seed=62)
    sender = EventSender(settings)
    v2 = sender.schema_id.to_bytes(4, "big")
    far_above = sender.schema_id + NEW_IDS + 1  # not a version registered since: never a restart
    body = compile_encoder(sender.schema_str, sender.schema_id)(good[0])[5:]
    bad = [
        Bad(b"\x01" + v2 + body, "bad magic byte: not Confluent-framed Avro"),
        Bad(b"{'json': 'not Avro'}", "bad magic byte: not Confluent-framed Avro"),
        Bad(b"xy", "bad magic byte: not Confluent-framed Avro"),
        Bad(b"\x00\x00\x00\x00\x00" + body, "unknown schema id 0"),
        Bad(b"\x00" + far_above.to_bytes(4, "big") + body, f"unknown schema id {far_above}"),
        Bad(b"\x00\xff\xff\xff\xff" + body, "unknown schema id 4294967295"),
        Bad(b"\x00" + v2 + body[:7], f"undecodable Avro body for schema id {sender.schema_id}"),
        Bad(b"\x00" + v2, f"undecodable Avro body for schema id {sender.schema_id}"),
        Bad(b"\x00" + v2 + b"\xff" * 12, f"undecodable Avro body for schema id {sender.schema_id}"),
        Bad(None, "null value"),
    ]
    for is_good, item in _interleave(good, bad):
        if is_good:
            sender.send(item, KEY)
        else:
            assert sender.flush(30) == 0
            _produce_raw(settings, [item.value])
    assert sender.flush(30) == 0
    assert (sender.counters.acked, sender.counters.invalid) == (N, 0)
    _assert_exact_outcome(settings, job, read_topic, good, bad)

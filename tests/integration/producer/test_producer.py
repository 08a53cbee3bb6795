"""The producer against the real broker and registry: exact read-back, invalid records refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka.serialization import MessageField, SerializationContext
from typer.testing import CliRunner

from producer.run import RunLimits, run
from producer.sender import EventSender, InvalidRecord
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.cli import app
from shopstream.clients.registry import avro_deserializer
from shopstream.errors import RegistryError
from shopstream.settings import Settings
from tests.integration.conftest import ReadTopic

runner = CliRunner()
N = 5_000


@pytest.fixture
def registered(isolated_topics: Settings) -> Settings:
    assert runner.invoke(app, ["schemas", "register"]).exit_code == 0
    assert runner.invoke(app, ["schemas", "evolve"]).exit_code == 0
    return isolated_topics


def test_a_batch_of_n_events_is_read_back_exactly(registered: Settings, read_topic: ReadTopic) -> None:
    events = TrafficModel(TrafficConfig(seed=11)).take(N)
    sender = EventSender(registered)
    result = run(sender, iter(events), RunLimits(count=N), report=lambda _l: None)
    assert result.counters["sent"] == result.counters["acked"] == N
    assert result.counters["failed"] == result.counters["invalid"] == 0

    messages = read_topic(registered.topics.events, expected=N)
    deserializer = avro_deserializer(registered.registry)
    ctx = SerializationContext(registered.topics.events, MessageField.VALUE)
    decoded = [deserializer(m.value(), ctx) for m in messages]
    assert len(decoded) == N
    assert sorted(d["event_id"] for d in decoded if d) == sorted(e["event_id"] for e in events)
    assert sum(d["total_amount_cents"] for d in decoded if d) == sum(e["total_amount_cents"] for e in events)
    assert sum(d["units"] for d in decoded if d) == sum(e["units"] for e in events)
    # keyed by user: every message's key is its event's user id
    assert all(m.key() == str(d["user_id"]).encode() for m, d in zip(messages, decoded, strict=True) if d)


def test_the_cli_produces_count_events_and_reports(registered: Settings, read_topic: ReadTopic) -> None:
    result = runner.invoke(app, ["produce", "--count", "300", "--rate", "0", "--schema-version", "1"])
    assert result.exit_code == 0, result.output
    assert '"acked": 300' in result.output
    assert len(read_topic(registered.topics.events, expected=300)) == 300


def test_invalid_records_are_refused_counted_and_never_sent(
    registered: Settings, read_topic: ReadTopic
) -> None:
    good = TrafficModel(TrafficConfig(seed=3)).take(20)
    bad = [
        {**good[0], "units": "two"},
        {**good[1], "tag": "refund"},
        {k: v for k, v in good[2].items() if k != "sku"},
    ]
    sender = EventSender(registered)
    reasons = []
    for record in [*good, *bad]:
        try:
            sender.send(record)
        except InvalidRecord as exc:
            reasons.append(str(exc))
    assert sender.flush(30) == 0
    assert (sender.counters.sent, sender.counters.acked, sender.counters.invalid) == (20, 20, 3)
    assert len(reasons) == 3
    assert "units" in reasons[0] and "refund" in reasons[1] and "sku" in reasons[2]
    messages = read_topic(registered.topics.events, expected=20)
    assert len(messages) == 20  # nothing of the invalid three reached the topic


def test_rule_breaking_records_are_refused_with_the_reason_counted_and_never_sent(
    registered: Settings, read_topic: ReadTopic
) -> None:
    """Records that fit the schema but break the business rules (shopstream/rules.py): refused before
    sending, each with its reason, counted per reason; the good ones around them are sent."""
    stream = TrafficModel(TrafficConfig(seed=4)).take(2_000)
    good, others = stream[:30], stream[30:]
    view, purchase = (next(e for e in others if e["tag"] == tag) for tag in ("view", "purchase"))
    now_ms = int(time.time() * 1000)
    bad = [
        ({**view, "total_amount_cents": -1}, "negative amount"),
        ({**purchase, "units": 0}, "purchase with 0 units"),
        ({**view, "event_time": 0}, "event time before 2020-01-01"),
        ({**view, "event_time": now_ms + 3_600_000}, "event time more than 60 s in the future"),
        ({**purchase, "campaign_id": "spring-sale"}, "unknown campaign"),
        ({**purchase, "campaign_id": "spring-sale"}, "unknown campaign"),
    ]
    sender = EventSender(registered)
    refusals = []
    for record in [*good[:15], *(event for event, _reason in bad), *good[15:]]:
        try:
            sender.send(record)
        except InvalidRecord as exc:
            refusals.append(str(exc))
    assert sender.flush(30) == 0
    assert refusals == [f"refused, not sent: rule violated: {reason}" for _event, reason in bad]
    counters = sender.counters.as_dict()
    assert (counters["sent"], counters["acked"], counters["invalid"]) == (30, 30, 6)
    assert counters["violations"] == {
        "rule violated: negative amount": 1,
        "rule violated: purchase with 0 units": 1,
        "rule violated: event time before 2020-01-01": 1,
        "rule violated: event time more than 60 s in the future": 1,
        "rule violated: unknown campaign": 2,
    }
    assert len(read_topic(registered.topics.events, expected=30)) == 30  # none of the six


def test_unregistered_schema_or_unreachable_registry_is_a_clear_error(
    isolated_topics: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RegistryError, match=r"not registered.*schemas register"):
        EventSender(isolated_topics)  # nothing registered for these fresh topics
    monkeypatch.setenv("SHOPSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:1/apis/ccompat/v7")
    result = runner.invoke(app, ["produce", "--count", "1"])
    assert result.exit_code == 1
    assert "schema registry unreachable" in result.output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_flushes_and_summarises(
    registered: Settings, read_topic: ReadTopic, sig: signal.Signals
) -> None:
    """The real command in its own process: stats lines while running, a summary after the signal."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopstream", "produce", "--rate", "2000", "--stats-interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["stopped_by_signal"] is True
    assert summary["sent"] == summary["acked"] > 1000 and summary["failed"] == 0
    assert "rate" in stderr and "acked" in stderr  # periodic stats lines
    assert len(read_topic(registered.topics.events, expected=summary["acked"])) == summary["acked"]

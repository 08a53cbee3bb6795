"""Integration fixtures: the real services, from the provider SHOPSTREAM_TEST_STACK selects
(tests/providers: the local stack by default, started once per session if it is not already up)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message

from shopstream.clients.kafka import client_config
from shopstream.ops import scratch
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests.integration.leftovers import Session, token
from tests.providers import select_provider, settings_env

HERE = Path(__file__).parent
PROVIDER = select_provider()
# these test the local stack's processes themselves (pids, supervisor, stop/start)
LOCAL_ONLY = {HERE / "shopstream" / "stack" / name for name in ("test_local_stack.py", "test_supervision.py")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
            if PROVIDER.name != "local" and Path(str(item.fspath)) in LOCAL_ONLY:
                item.add_marker(pytest.mark.skip(reason=f"tests the local stack, not {PROVIDER.name}"))


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    """Settings pointing at the provider's services (local: the environment's, unchanged). Other
    providers' endpoints are exported as SHOPSTREAM_* for in-process CLI calls and child processes."""
    with PROVIDER.settings(Settings()) as provided, pytest.MonkeyPatch.context() as env:
        if PROVIDER.name != "local":
            for name, value in settings_env(provided).items():
                env.setenv(name, value)
        yield provided


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    """The stack, healthy (local: stopped afterwards only if this session started it;
    SHOPSTREAM_KEEP_STACK=1 keeps it up)."""
    with PROVIDER.stack(settings) as stack:
        yield stack


@pytest.fixture
def isolated_topics(stack: Stack, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Fresh topic names (and so fresh subjects) for this test, created on the broker; the env
    carries them to the CLI commands run in-process. Topics and subjects are removed afterwards."""
    from shopstream.clients.kafka_acls import ensure_pipeline

    prefix = f"test.{token()}"
    isolated = settings.with_topic_prefix(prefix)
    for name, value in isolated.topic_env().items():
        monkeypatch.setenv(name, value)
    ensure_pipeline(isolated)
    yield isolated
    _drop(settings, prefix)


def _drop(settings: Settings, prefix: str) -> None:
    """Delete the test's connectors, consumer groups, topics (a CDC connector's schema history too)
    and (for good) subjects."""
    prefixes = [prefix, f"_schema-history.{prefix}"]
    scratch.remove(settings, prefixes, ("connectors", "groups", "topics", "acls", "subjects"))


@pytest.fixture(scope="session", autouse=True)
def leaves_nothing_behind(stack: Stack, settings: Settings) -> Iterator[None]:
    """The session-finish check: every test topic, subject, InfluxDB database, connector, consumer
    group and supervisor program the session created is gone at its end (tests/integration/leftovers.py:
    what is left fails the session, named; what the shared fixtures named is removed)."""
    session = Session(settings)
    session.begin()
    yield
    left = session.end()
    assert not left, f"the test session left these behind: {left}"


ReadTopic = Callable[..., list[Message]]


@pytest.fixture
def read_topic(settings: Settings) -> ReadTopic:
    """Read a topic from the beginning until `expected` messages arrived, or the topic went quiet."""

    def read(
        topic: str, expected: int | None = None, quiet_s: float = 3.0, timeout_s: float = 60
    ) -> list[Message]:
        group = f"test-reader-{token()}"
        consumer = Consumer(
            {
                **client_config(settings.kafka, "admin"),
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout_s
        last_seen = time.monotonic()
        try:
            while time.monotonic() < deadline:
                batch = consumer.consume(10_000, 0.5)
                for message in batch:
                    error = message.error()
                    assert error is None or error.code() == KafkaError._PARTITION_EOF, error
                    if error is None:
                        messages.append(message)
                if batch:
                    last_seen = time.monotonic()
                if expected is not None and len(messages) >= expected:
                    # keep listening briefly: more than expected is a failure the caller must see
                    if time.monotonic() - last_seen > 1.0:
                        break
                elif expected is None and messages and time.monotonic() - last_seen > quiet_s:
                    break
        finally:
            consumer.close()
            scratch.remove(settings, [group], ("groups",))
        return messages

    return read

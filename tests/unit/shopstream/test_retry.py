"""The one wait helper: returns the first answer, names what it waited for, stops on real errors."""

from __future__ import annotations

import time

import pytest

from shopstream.errors import ShopstreamError, Timeout
from shopstream.retry import NotYet, wait_until


def test_returns_the_first_answer_that_is_not_none_or_false() -> None:
    answers = iter([None, False, 7])
    assert wait_until(lambda: next(answers), 5, "an answer", every_s=0.01) == 7


def test_not_yet_is_retried_and_its_reason_ends_up_in_the_timeout() -> None:
    def never() -> int:
        raise NotYet("the broker lists no partition")

    started = time.monotonic()
    with pytest.raises(
        Timeout, match=r"topic ready: not after 0.3 s \(the broker lists no partition\)"
    ) as err:
        wait_until(never, 0.3, "topic ready", every_s=0.05, hint="run `shopstream stack up`")
    assert 0.3 <= time.monotonic() - started < 2
    assert err.value.hint == "run `shopstream stack up`"


def test_a_shopstream_error_stops_the_wait_at_once() -> None:
    calls = []

    def failing() -> int:
        calls.append(1)
        raise ShopstreamError("connector FAILED", "see its trace")

    with pytest.raises(ShopstreamError, match="connector FAILED"):
        wait_until(failing, 5, "connector running", every_s=0.01)
    assert calls == [1]


def test_other_exceptions_are_retried_only_when_asked() -> None:
    attempts: list[str | OSError] = [OSError("refused"), OSError("refused"), "up"]

    def probe() -> str:
        value = attempts.pop(0)
        if isinstance(value, OSError):
            raise value
        return value

    assert wait_until(probe, 5, "service", every_s=0.01, retry_on=(OSError,)) == "up"
    empty: dict[str, int] = {}
    with pytest.raises(KeyError):
        wait_until(lambda: empty["missing"], 5, "a key", every_s=0.01)

"""One way to wait: ``wait_until`` polls a condition on tenacity until it holds or time runs out."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay
from tenacity import wait_fixed as _wait_fixed

from shopstream.errors import ShopstreamError, Timeout

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a condition to say "not yet, and here is why" (the reason ends up in the timeout)."""


def wait_until(
    condition: Callable[[], T | None],
    timeout_s: float,
    what: str,
    *,
    every_s: float = 0.5,
    hint: str = "",
    retry_on: tuple[type[BaseException], ...] = (NotYet,),
) -> T:
    """Call ``condition`` every ``every_s`` until it returns something other than None or False
    (returned), for at most ``timeout_s``; then raise ``Timeout`` naming ``what`` was waited for and
    the last reason. Exceptions of ``retry_on`` mean "not yet"; a ShopstreamError or any other
    exception stops the wait at once."""
    last: list[str] = []

    def attempt() -> T | None:
        try:
            return condition()
        except retry_on as exc:
            last[:] = [f"{type(exc).__name__}: {exc}" if not isinstance(exc, NotYet) else str(exc)]
            raise

    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=_wait_fixed(every_s),
        retry=retry_if_exception_type(retry_on) | retry_if_result(lambda r: r is None or r is False),
    )
    try:
        result = retrying(attempt)
    except RetryError as exc:
        reason = f" ({last[0]})" if last else ""
        raise Timeout(f"{what}: not after {timeout_s:g} s{reason}", hint) from exc
    except ShopstreamError:
        raise
    assert result is not None
    return result

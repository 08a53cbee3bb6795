"""The default provider: the local stack of processes, as `shopstream stack up` runs it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from shopstream.settings import Settings
from shopstream.stack.stack import Stack


class LocalStackProvider:
    """Settings are the environment's (defaults: 127.0.0.1); the stack is started once per session if
    it is not running, and stopped afterwards only if this session started it
    (SHOPSTREAM_KEEP_STACK=1 keeps it up)."""

    name = "local"

    @contextmanager
    def settings(self, base: Settings) -> Iterator[Settings]:
        yield base

    @contextmanager
    def stack(self, settings: Settings) -> Iterator[Stack]:
        stack = Stack(settings)
        was_running = stack.supervisor.is_running()
        stack.up()
        yield stack
        if not was_running and os.environ.get("SHOPSTREAM_KEEP_STACK") != "1":
            stack.down()

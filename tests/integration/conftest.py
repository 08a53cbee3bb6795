"""Integration fixtures: the real local stack, started once per session if it is not already up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose.stack.stack import Stack
from scripts.settings import Settings, get_settings

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Stack]:
    """The local stack, healthy. Stopped afterwards only if this session started it
    (SHOPSTREAM_KEEP_STACK=1 keeps it up)."""
    stack = Stack(settings)
    was_running = stack.supervisor.is_running()
    stack.up()
    yield stack
    if not was_running and os.environ.get("SHOPSTREAM_KEEP_STACK") != "1":
        stack.down()

"""Reading the InfluxDB sink's per-task MBeans: the newest instance of each task wins."""

from __future__ import annotations

from typing import Any

import pytest

from shopstream.clients.jolokia import JolokiaClient, sink_mbean
from shopstream.settings import Settings


def test_each_task_reads_its_newest_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    client = JolokiaClient(Settings().replace(connect_jolokia_url="http://127.0.0.1:1/jolokia").connect)
    answers: dict[str, dict[str, Any]] = {
        "kafka.connect:type=plugins,connector=c,task=0": {"points-written-total": 5.0},
        # task 1's predecessor did not stop in time: the restarted instance registered with `instance`
        "kafka.connect:type=plugins,connector=c,task=1": {"points-written-total": 7.0},
        "kafka.connect:type=plugins,connector=c,instance=12,task=1": {
            "points-written-total": 2.0,
            "x": "text",
        },
        "kafka.connect:type=plugins,connector=c,instance=9,task=1": {"points-written-total": 1.0},
    }
    asked: list[str] = []

    def read(mbean: str) -> dict[str, dict[str, Any]]:
        asked.append(mbean)
        return answers

    monkeypatch.setattr(client, "read", read)
    assert client.sink_tasks("c") == {0: {"points-written-total": 5.0}, 1: {"points-written-total": 2.0}}
    assert asked == [sink_mbean("c")] == ["kafka.connect:type=plugins,connector=c,*"]

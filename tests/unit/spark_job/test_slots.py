"""Task slots of Real-time Mode: enough for every partition's long-running task, or a clear error."""

from __future__ import annotations

import os

import pytest

from spark_job.slots import KPI_SLOTS, NotEnoughSlots, local_slots, realtime_master


def test_local_masters_are_parsed_and_cluster_masters_are_not() -> None:
    assert local_slots("local") == 1
    assert local_slots("local[3]") == 3
    assert local_slots("local[4,2]") == 4
    assert local_slots("local[*]") == os.cpu_count()
    assert local_slots("spark://host:7077") is None


def test_local_star_grows_to_the_slots_needed() -> None:
    needed = 64 + KPI_SLOTS  # more than any machine here has cores
    master, why = realtime_master("local[*]", 64, with_kpis=True)
    assert master == f"local[{needed}]"
    assert "64 partition task(s)" in why


def test_an_explicit_master_with_too_few_slots_names_the_fix() -> None:
    with pytest.raises(NotEnoughSlots, match=r"SHOPSTREAM_SPARK_MASTER=local\[5\]"):
        realtime_master("local[2]", 3, with_kpis=True)
    assert realtime_master("local[3]", 3, with_kpis=False)[0] == "local[3]"
    assert realtime_master("spark://h:7077", 3, with_kpis=True)[0] == "spark://h:7077"

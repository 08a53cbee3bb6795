"""Task slots for Real-time Mode: one long-running task per event-topic partition, held all batch.

A real-time task waits on Kafka most of the time, so a slot is a thread, not a core: ``local[5]``
on a 2-core machine is fine. Too few slots is not: a partition without a slot waits for the whole
batch (seconds of latency), and the micro-batch KPI queries starve.
"""

from __future__ import annotations

import os
import re

from shopstream.errors import ShopstreamError

KPI_SLOTS = 2  # the KPI queries' short micro-batch tasks, next to the long-running ones
_LOCAL = re.compile(r"local(?:\[(\*|\d+)(?:,\d+)?\])?")


class NotEnoughSlots(ShopstreamError):
    """The master has fewer task slots than Real-time Mode needs."""


def local_slots(master: str) -> int | None:
    """Task slots of a ``local``/``local[N]``/``local[*]``/``local[N,F]`` master; None otherwise."""
    found = _LOCAL.fullmatch(master.strip())
    if found is None:
        return None
    threads = found.group(1)
    if threads is None:
        return 1
    return (os.cpu_count() or 1) if threads == "*" else int(threads)


def needed_slots(topic_partitions: int, realtime: bool, wanted: tuple[str, ...]) -> int:
    """Task slots an application running the ``wanted`` queries takes on a cluster: one per partition
    for a real-time enrichment, ``KPI_SLOTS`` for the micro-batch queries."""
    enrich = "enrich" in wanted
    slots = (topic_partitions if realtime else KPI_SLOTS) if enrich else 0
    return slots + (KPI_SLOTS if len(wanted) > int(enrich) else 0)


def realtime_master(master: str, topic_partitions: int, with_kpis: bool) -> tuple[str, str]:
    """(master to use, why) for a real-time enrichment query. ``local[*]`` grows to the slots the
    query needs; an explicit ``local[N]`` that is too small is an error naming the fix."""
    needed = topic_partitions + (KPI_SLOTS if with_kpis else 0)
    why = f"{topic_partitions} partition task(s)" + (
        f" + {KPI_SLOTS} for the KPI queries" if with_kpis else ""
    )
    slots = local_slots(master)
    if slots is None:
        return master, f"cluster master: it needs {needed} free task slots ({why})"
    if slots >= needed:
        return master, f"{slots} task slots ({why})"
    if master.strip().startswith("local[*"):
        return f"local[{needed}]", f"{needed} task slots ({why}; {slots} core(s))"
    raise NotEnoughSlots(
        f"Real-time Mode needs {needed} task slots ({why}), master {master} has {slots}",
        f"set SHOPSTREAM_SPARK_MASTER=local[{needed}] (threads, not cores) or use --mode microbatch",
    )

"""Every Prometheus query of the platform dashboard and of the alert rules returns data on a running
pipeline: a rule's expression is split at its comparisons and set operators (``and on (...)``), and
each operand is run (a healthy pipeline fires no alert, so the whole expression would answer nothing;
its operands must not). Queries are run through Prometheus' API as Grafana and the rule evaluator do."""

from __future__ import annotations

import re
import time

import yaml

from shopstream.ops import dashboards
from shopstream.ops.platform_dashboard import platform
from shopstream.stack.services.prometheus import rules_file
from tests.integration.monitoring.conftest import Monitored

_SPLIT = re.compile(r"\s+(?:and|or|unless)(?:\s+(?:on|ignoring)\s*\([^)]*\))?\s+|\s*(?:==|!=|>=|<=|>|<)\s*")
_NUMBER = re.compile(r"^-?[0-9.]+$")
WAIT_S = 240  # the trial's first scrapes, rates over a minute, a 5-minute deriv's first points


def _top_level(text: str) -> list[bool]:
    """Per character: outside every (...), {...}, [...] and string."""
    flags, depth, quote = [], 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        flags.append(depth == 0 and not quote)
    return flags


def operands(expr: str) -> list[str]:
    """The parts of an expression joined at the top level by comparisons and set operators (numbers
    left out): each must return data."""
    text = " ".join(expr.split())
    top = _top_level(text)
    parts, start = [], 0
    for match in _SPLIT.finditer(text):
        if top[match.start()] and top[match.end() - 1]:
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip() and not _NUMBER.match(part.strip())]


def test_operands_are_split_at_the_top_level_only() -> None:
    assert operands("a > 60 and on (program) delta(b[2m]) > 0") == ["a", "delta(b[2m])"]
    assert operands('count(x{s!="r"} == 1) or vector(0)') == ['count(x{s!="r"} == 1)', "vector(0)"]
    assert operands("time() - x > 120") == ["time() - x"]
    assert operands('x{status!="running"} == 1') == ['x{status!="running"}']


def queries() -> dict[str, str]:
    """Where each query is used -> the query."""
    found = {}
    for panel in dashboards.iter_panels(platform()):
        for target in panel["targets"]:
            found[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for group in yaml.safe_load(rules_file().read_text())["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            for i, part in enumerate(operands(rule["expr"])):
                found[f"rule {name} operand {i}"] = part
    return found


def test_every_dashboard_and_rule_query_returns_data(monitored: Monitored) -> None:
    pending = queries()
    assert len(pending) > 40
    deadline = time.monotonic() + WAIT_S
    while pending and time.monotonic() < deadline:
        for where, expr in list(pending.items()):
            if monitored.prometheus.query(expr):
                del pending[where]
        if pending:
            time.sleep(10)
    assert not pending, f"no data after {WAIT_S} s: {pending}"


def test_every_target_is_up_and_the_trials_processes_registered(monitored: Monitored) -> None:
    name = monitored.trial.name
    targets = monitored.prometheus.targets()
    down = [
        (t["labels"]["job"], t["scrapeUrl"], t.get("lastError")) for t in targets if t["health"] == "down"
    ]
    programs = {t["labels"].get("program") for t in targets if t["health"] == "up"}
    registered = {job.name for job in monitored.trial.jobs} | {monitored.producer.name}
    assert len(registered) == 4 and registered <= programs, (
        registered - programs
    )  # 2 Spark apps, sampler, producer
    jobs = {t["labels"]["job"] for t in targets if t["health"] == "up"}
    assert {
        "prometheus",
        "alertmanager",
        "kafka",
        "connect",
        "stack",
        "spark",
        "producer",
        "telemetry",
    } <= jobs
    assert not [d for d in down if name in str(d)], down


def test_the_rules_shipped_are_the_rules_loaded(monitored: Monitored) -> None:
    loaded = {rule["name"] for rule in monitored.prometheus.rules()}
    shipped = {
        rule.get("alert") or rule["record"]
        for group in yaml.safe_load(rules_file().read_text())["groups"]
        for rule in group["rules"]
    }
    assert loaded == shipped

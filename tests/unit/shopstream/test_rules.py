"""The events' business rules in Python (the producer's check), on the table of cases the Spark
expression is also tested on (tests/rule_cases.py)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producer.traffic import TrafficConfig, TrafficModel
from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema
from shopstream.errors import ContractError, SettingsError
from shopstream.rules import Rules
from shopstream.settings import Settings
from tests.rule_cases import CASES, NOW, RULES, VIEW, Case


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_case_gets_its_reason(case: Case) -> None:
    assert RULES.reason(case.event, NOW) == case.reason


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_producers_fast_check_agrees_with_the_rules(case: Case) -> None:
    check = RULES.checker(clock=lambda: NOW)
    assert check(case.event) == case.reason
    assert check(case.event) == case.reason  # again, with the campaign memo filled


def test_the_defaults_are_the_settings_defaults(clean_env: Path) -> None:
    assert Rules.of(Settings()) == RULES == Rules()


def test_settings_change_the_skew_and_the_campaigns(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_MAX_EVENT_TIME_SKEW_S", "600")
    monkeypatch.setenv("SHOPSTREAM_CAMPAIGN_ID_PATTERN", "cmp-[0-9]{3}|spring-sale")
    rules = Rules.of(Settings())
    assert rules.reason({**VIEW, "event_time": NOW + 600_000, "campaign_id": "spring-sale"}, NOW) is None
    assert rules.reason({**VIEW, "event_time": NOW + 600_001}, NOW) == (
        "rule violated: event time more than 600 s in the future"
    )


def test_a_pattern_that_does_not_compile_names_the_setting(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopstream.settings import load_settings

    monkeypatch.setenv("SHOPSTREAM_CAMPAIGN_ID_PATTERN", "cmp-[0-9")
    with pytest.raises(SettingsError, match=r"SHOPSTREAM_CAMPAIGN_ID_PATTERN: .*not a regular expression"):
        load_settings()


def test_a_datetime_event_time_is_judged_by_its_instant() -> None:
    at = datetime.fromtimestamp(NOW / 1000, UTC)
    assert RULES.reason({**VIEW, "event_time": at}, NOW) is None
    assert RULES.checker(clock=lambda: NOW)({**VIEW, "event_time": datetime(1970, 1, 2, tzinfo=UTC)}) == (
        "rule violated: event time before 2020-01-01"
    )


def test_every_event_the_traffic_model_makes_keeps_the_rules() -> None:
    """The producer's own traffic, every campaign it can have, both schema versions: nothing refused."""
    for version in (1, 2):
        model = TrafficModel(
            TrafficConfig(seed=version, campaigns=1_000, schema_version=version, start_ms=NOW)
        )
        events = model.take(20_000)
        assert {e["tag"] for e in events} == {"view", "click", "add_to_cart", "purchase"}
        check = RULES.checker(clock=lambda: NOW)
        assert [e for e in events if check(e) is not None] == []
    assert all(RULES.reason({**VIEW, "campaign_id": c.campaign_id}, NOW) is None for c in model.campaigns)


def test_random_records_get_the_same_answer_from_the_fast_check_and_the_rules() -> None:
    rng = random.Random(5)
    check = RULES.checker(clock=lambda: NOW)
    for _ in range(20_000):
        event = {
            **VIEW,
            "tag": rng.choice(["view", "click", "add_to_cart", "purchase"]),
            "units": rng.choice([-1, 0, 0, 1, 3]),
            "total_amount_cents": rng.choice([-100, 0, 0, 1, 4_999]),
            "event_time": NOW + rng.choice([-(10**12), -5_000, 0, 60_000, 60_001, 10**12]),
            "campaign_id": rng.choice(["cmp-001", "cmp-01", "other"]),
        }
        assert check(event) == RULES.reason(event, NOW)


def test_the_rules_say_what_the_event_contract_says() -> None:
    """The contract's docs are where the amount/units rules come from; a changed doc must be seen here."""
    fields = {f["name"]: f for f in json.loads(load_schema(EVENT_SCHEMA_FILES[2]))["fields"]}
    assert "on purchases (>= 1); 0 for other events" in fields["units"]["doc"]
    assert "on purchases; 0 for other events" in fields["total_amount_cents"]["doc"]
    assert "purchase" in fields["tag"]["type"]["symbols"]
    example = fields["campaign_id"]["doc"].split("'")[1]  # "... (e.g. 'cmp-007')."
    assert RULES.reason({**VIEW, "campaign_id": example}, NOW) is None


def test_a_contract_without_a_field_the_rules_read_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import shopstream.rules as rules_module

    schema = json.loads(load_schema(EVENT_SCHEMA_FILES[2]))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "units"]
    monkeypatch.setattr(rules_module, "load_schema", lambda _name: json.dumps(schema))
    with pytest.raises(ContractError, match=r"\['units'\]"):
        Rules.of(Settings())

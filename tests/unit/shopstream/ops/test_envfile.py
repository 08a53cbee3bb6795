"""scripts/setup.sh's .env: generated secrets, mode 600, idempotent; .env.example holds none."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from shopstream.ops.envfile import ensure_env_file, missing_secrets
from shopstream.resources import project_dir
from shopstream.settings import Settings, secret_variables

EXAMPLE = project_dir() / ".env.example"
SECRETS = {f"SHOPSTREAM_{name.upper()}" for name in secret_variables()}


def _values(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(SHOPSTREAM_\w+)=(.*)$", text, re.MULTILINE))


def test_the_example_names_every_secret_and_holds_none() -> None:
    values = _values(EXAMPLE.read_text())
    assert set(values) >= SECRETS, SECRETS - set(values)
    assert SECRETS and all(values[name] == "" for name in SECRETS), {n: values[n] for n in SECRETS}


def test_first_run_writes_every_secret_random_with_mode_600(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    [report] = ensure_env_file(env, EXAMPLE)
    assert "generated secrets" in report
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = _values(env.read_text())
    generated = [values[name] for name in SECRETS]
    assert all(len(value) >= 24 for value in generated)
    assert len(set(generated)) == len(generated), "one password per setting"
    assert missing_secrets(env.read_text()) == []
    example = _values(EXAMPLE.read_text())
    assert {k: v for k, v in values.items() if k not in SECRETS} == {
        k: v for k, v in example.items() if k not in SECRETS
    }


def test_later_runs_keep_what_is_there_and_add_only_missing_secrets(
    tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env, EXAMPLE)
    first = env.read_text()
    env.chmod(0o644)
    [report] = ensure_env_file(env, EXAMPLE)
    assert "every secret setting is there" in report
    assert env.read_text() == first and stat.S_IMODE(env.stat().st_mode) == 0o600

    kept = _values(first)
    lines = [
        line
        for line in first.splitlines()
        if not line.startswith(("SHOPSTREAM_KAFKA_SPARK_PASSWORD=", "SHOPSTREAM_CONNECT_PASSWORD="))
    ]
    env.write_text("\n".join([*lines, "SHOPSTREAM_CONNECT_PASSWORD="]) + "\n")
    [report] = ensure_env_file(env, EXAMPLE)
    assert "SHOPSTREAM_KAFKA_SPARK_PASSWORD" in report and "SHOPSTREAM_CONNECT_PASSWORD" in report
    after = _values(env.read_text())
    assert after["SHOPSTREAM_KAFKA_SPARK_PASSWORD"] and after["SHOPSTREAM_CONNECT_PASSWORD"]
    unchanged = {
        k: v
        for k, v in kept.items()
        if k not in ("SHOPSTREAM_KAFKA_SPARK_PASSWORD", "SHOPSTREAM_CONNECT_PASSWORD")
    }
    assert {k: after[k] for k in unchanged} == unchanged

    monkeypatch.setenv("SHOPSTREAM_ENV_FILE", str(env))
    settings = Settings()  # the written file is valid settings
    assert settings.kafka.spark_password.get_secret_value() == after["SHOPSTREAM_KAFKA_SPARK_PASSWORD"]


def test_a_renamed_setting_is_reported(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    ensure_env_file(env, EXAMPLE)
    env.write_text(env.read_text() + "SHOPSTREAM_INFLUXDB_PASSWORD=old\n")
    report = ensure_env_file(env, EXAMPLE)
    assert any("SHOPSTREAM_INFLUXDB_PASSWORD" in line and "do not exist" in line for line in report)

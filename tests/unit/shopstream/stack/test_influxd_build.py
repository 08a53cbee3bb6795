"""InfluxDB built from source: a cached binary is used as is; a missing toolchain names what to install;
the stack's influxdb.conf."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from shopstream.errors import MissingPrerequisite
from shopstream.settings import Settings
from shopstream.stack import influxd
from shopstream.stack.influxd import INFLUXDB_VERSION, ensure_influxd, influxd_path, ldflags
from shopstream.stack.services.base import StackContext
from shopstream.stack.services.influxdb import render_config


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{text}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH with only what the test puts there; no fallback locations."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(influxd, "GO_FALLBACK", tmp_path / "none" / "go")
    monkeypatch.setattr(influxd, "CARGO_FALLBACK", tmp_path / "none" / "cargo")
    return bin_dir


def test_a_cached_binary_is_used_without_any_toolchain(tmp_path: Path, no_toolchain: Path) -> None:
    binary = _script(influxd_path(tmp_path / "cache"), "exit 0")
    assert binary == tmp_path / "cache" / f"influxdb-{INFLUXDB_VERSION}" / "influxd"
    assert ensure_influxd(tmp_path / "cache") == binary  # no go on PATH: nothing was built


def test_no_go_names_the_version_and_the_install_command(tmp_path: Path, no_toolchain: Path) -> None:
    with pytest.raises(MissingPrerequisite) as err:
        ensure_influxd(tmp_path / "cache")
    assert err.value.message == f"go not found: InfluxDB {INFLUXDB_VERSION} is built from source"
    assert "Go 1.26 or newer" in err.value.hint and "https://go.dev/dl/go1.26" in err.value.hint
    assert not influxd_path(tmp_path / "cache").exists()


def test_a_go_too_old_is_refused(tmp_path: Path, no_toolchain: Path) -> None:
    _script(no_toolchain / "go", 'echo "go1.19.8"')  # Debian bookworm's golang-go
    with pytest.raises(MissingPrerequisite, match=r"is go1\.19\.8: InfluxDB .* needs go1\.26\+.*go\.dev/dl"):
        ensure_influxd(tmp_path / "cache")


def test_no_cargo_names_rustup(tmp_path: Path, no_toolchain: Path) -> None:
    _script(no_toolchain / "go", 'echo "go1.26.8"')
    with pytest.raises(MissingPrerequisite) as err:
        ensure_influxd(tmp_path / "cache")
    assert "cargo not found" in err.value.message
    assert "sh.rustup.rs | sh -s -- -y" in err.value.hint


def test_a_rust_older_than_flux_needs_is_refused(tmp_path: Path, no_toolchain: Path) -> None:
    _script(no_toolchain / "go", 'echo "go1.26.8"')
    _script(no_toolchain / "cargo", 'echo "cargo 0.66.0"')  # Debian bookworm's cargo (Rust 1.63)
    with pytest.raises(MissingPrerequisite, match=r"Flux needs Rust 1\.83\+"):
        ensure_influxd(tmp_path / "cache")


def test_the_version_is_stamped_into_the_binary() -> None:
    # cmd/influxd/main.go of v1.13.2: `var (version string; commit string; branch string)`
    assert f"-X main.version={INFLUXDB_VERSION}" in ldflags()
    assert f"-X main.branch=v{INFLUXDB_VERSION}" in ldflags()


def test_the_stacks_config_takes_index_and_series_limit_from_the_settings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSTREAM_STATE_DIR", str(clean_env / "state"))
    monkeypatch.setenv("SHOPSTREAM_INFLUXDB_URL", "http://127.0.0.1:38086")
    monkeypatch.setenv("SHOPSTREAM_INFLUXDB_INDEX", "tsi1")
    monkeypatch.setenv("SHOPSTREAM_INFLUXDB_MAX_SERIES_PER_DATABASE", "250000")
    config = tomllib.loads(render_config(StackContext(Settings())))
    assert config["bind-address"] == "127.0.0.1:38088" and config["reporting-disabled"] is True
    assert config["data"]["index-version"] == "tsi1"
    assert config["data"]["max-series-per-database"] == 250_000
    assert config["data"]["dir"] == str(clean_env / "state" / "influxdb" / "data")
    http = config["http"]
    assert http["bind-address"] == "127.0.0.1:38086" and http["auth-enabled"] is True
    assert http["flux-enabled"] is False and http["pprof-enabled"] is False

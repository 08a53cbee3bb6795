"""InfluxDB OSS 1.x for the local stack: built from its Go module source, once per machine and version.

No package registry reachable here serves a current InfluxDB 1.x (Debian has 1.6.7~rc0, a 2018 release
candidate), but the Go module proxy serves its source. ``go install ...influxd@v1.13.2`` links Flux's Rust
library (libflux), which InfluxData's ``pkg-config`` wrapper builds with cargo; hence:

* ``PKG_CONFIG`` = InfluxData's wrapper (``github.com/influxdata/pkg-config``, pinned to the version
  influxdb's own go.mod requires); without it cgo fails with "Package flux was not found in the
  pkg-config search path";
* ``RUSTUP_TOOLCHAIN=stable``: flux v0.200.0 pins Rust 1.83 (its rust-toolchain file), which rustup
  cannot download here ("toolchain '1.83-x86_64-unknown-linux-gnu' is not installed"); any stable
  from 1.83 on compiles it;
* ``GOFLAGS=-mod=mod``; the version stamped in with ``-ldflags -X main.version=...`` (else ``/ping``
  says "unknown").

Everything lives under the cache dir, outside any checkout: the binary in ``influxdb-<version>/``,
Go's module cache in ``go/``, its build cache in ``go-build/`` (which also holds the libflux build).
cargo keeps its downloaded crates in its own home (``~/.cargo``).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shopstream.errors import MissingPrerequisite, StackError

INFLUXDB_VERSION = "1.13.2"
INFLUXD_PACKAGE = "github.com/influxdata/influxdb/cmd/influxd"
# the version influxdb v1.13.2's go.mod requires (`@latest` resolves to the older v0.2.7)
PKG_CONFIG_MODULE = "github.com/influxdata/pkg-config@v0.3.0"
GO_MIN = (1, 26)  # influxdb v1.13.2's go.mod: "go 1.26"
RUST_MIN = (1, 83)  # flux v0.200.0's rust-toolchain
RUST_TOOLCHAIN = "stable"
GO_INSTALL = (
    "install Go 1.26 or newer (Debian's golang-go is 1.19, too old): curl -fsSL "
    "https://go.dev/dl/go1.26.8.linux-amd64.tar.gz | tar -C /usr/local -xz, "
    "then put /usr/local/go/bin on PATH"
)
RUST_INSTALL = (
    "install Rust with rustup (Debian's cargo 1.63 is too old for Flux): curl --proto '=https' "
    "--tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal, then put ~/.cargo/bin on PATH"
)
# where the official installers put them, when PATH (a non-login shell's) lacks them
GO_FALLBACK = Path("/usr/local/go/bin/go")
CARGO_FALLBACK = Path.home() / ".cargo" / "bin" / "cargo"
_VERSION = re.compile(r"(\d+)\.(\d+)")
_GET = re.compile(r"^go: downloading \S+ v")  # a module fetched from the proxy
_COMPILE = re.compile(r"/compile .*?-p (\S+) ")  # `go -x`: a package compiled
_PKG_CONFIG = re.compile(r"pkg-config --cflags")  # cgo asks the wrapper: libflux is built with cargo


def influxd_path(cache: Path) -> Path:
    """Where the built ``influxd`` of :data:`INFLUXDB_VERSION` is cached."""
    return cache / f"influxdb-{INFLUXDB_VERSION}" / "influxd"


def cached_influxd(cache: Path) -> Path | None:
    binary = influxd_path(cache)
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def ensure_influxd(cache: Path, console: Console | None = None) -> Path:
    """The cached ``influxd``; built first when missing (minutes: Go and Rust compile)."""
    if binary := cached_influxd(cache):
        return binary
    console = console or Console(stderr=True, soft_wrap=True)
    cache.mkdir(parents=True, exist_ok=True)
    # two setups at once (two checkouts) build once: the second waits, then finds the binary
    with (cache / f"influxdb-{INFLUXDB_VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary := cached_influxd(cache):
            return binary
        return _build(cache, console)


def _which(name: str, fallback: Path) -> Path | None:
    found = shutil.which(name)
    if found:
        return Path(found)
    return fallback if fallback.is_file() and os.access(fallback, os.X_OK) else None


def _output(cmd: list[str | Path], env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    return done.returncode, (done.stdout.strip() or done.stderr.strip())


def _version(text: str) -> tuple[int, int]:
    match = _VERSION.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def build_env(cache: Path) -> tuple[Path, dict[str, str]]:
    """``go`` and the build's environment: Go, cargo and a C compiler checked, caches under ``cache``."""
    what = f"InfluxDB {INFLUXDB_VERSION}"
    go = _which("go", GO_FALLBACK)
    if go is None:
        raise MissingPrerequisite(f"go not found: {what} is built from source", GO_INSTALL)
    _, go_version = _output([go, "env", "GOVERSION"])
    if _version(go_version) < GO_MIN:
        raise MissingPrerequisite(f"{go} is {go_version or 'unknown'}: {what} needs go1.26+", GO_INSTALL)
    cargo = _which("cargo", CARGO_FALLBACK)
    if cargo is None:
        raise MissingPrerequisite(f"cargo not found: {what}'s Flux library is Rust", RUST_INSTALL)
    path = os.pathsep.join([str(go.parent), str(cargo.parent), os.environ.get("PATH", "")])
    env = {
        **os.environ,
        "PATH": path,
        "GOPATH": str(cache / "go"),
        "GOMODCACHE": str(cache / "go" / "pkg" / "mod"),
        "GOCACHE": str(cache / "go-build"),
        "GOFLAGS": "-mod=mod",
        "CARGO": str(cargo),
        "RUSTUP_TOOLCHAIN": RUST_TOOLCHAIN,
        "PKG_CONFIG": str(cache / "go" / "bin" / "pkg-config"),
    }
    status, rust = _output([cargo, "--version"], env)
    if status != 0 or _version(rust) < RUST_MIN:
        raise MissingPrerequisite(
            f"cargo (RUSTUP_TOOLCHAIN={RUST_TOOLCHAIN}) is {rust or 'unknown'}: Flux needs Rust 1.83+",
            f"rustup toolchain install stable, or {RUST_INSTALL}",
        )
    compiler = _output([go, "env", "CC"], env)[1] or "gcc"
    if shutil.which(compiler, path=path) is None:
        raise MissingPrerequisite(
            f"no C compiler ({compiler}): Go's cgo links Flux's library with it",
            "run scripts/setup.sh, or as root: apt-get install gcc",
        )
    return go, env


def ldflags() -> str:
    """Strip debug info (as InfluxData's release builds) and stamp the version ``/ping`` reports. The
    module proxy gives no commit for the tag: ``main.commit`` stays "unknown"; the branch is the tag."""
    return f"-s -w -X main.version={INFLUXDB_VERSION} -X main.branch=v{INFLUXDB_VERSION}"


def build_commands(go: Path, cache: Path, gobin: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    """The two ``go install`` steps: InfluxData's pkg-config wrapper, then ``influxd`` into ``gobin``."""
    influxd = f"{INFLUXD_PACKAGE}@v{INFLUXDB_VERSION}"
    return [
        (
            "pkg-config wrapper",
            [str(go), "install", "-x", PKG_CONFIG_MODULE],
            {"GOBIN": str(cache / "go" / "bin")},
        ),
        (
            f"influxd {INFLUXDB_VERSION}",
            [str(go), "install", "-x", "-ldflags", ldflags(), influxd],
            {"GOBIN": str(gobin)},
        ),
    ]


def _build(cache: Path, console: Console) -> Path:
    go, env = build_env(cache)
    target = influxd_path(cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    console.print(
        f"Building InfluxDB {INFLUXDB_VERSION} from source into {target.parent}: once per machine, the first "
        f"time about 5 min on 2 cores and 1.4 GB of Go modules (Go packages, Flux's Rust library, the link)"
    )
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as gobin:
        for step, cmd, extra in build_commands(go, cache, Path(gobin)):
            _run(step, cmd, {**env, **extra}, console)
        (Path(gobin) / "influxd").replace(target)  # whole or not at all
    _, version = _output([target, "version"])
    console.print(f"[green]InfluxDB built[/] in {time.monotonic() - started:.0f} s: {target} ({version})")
    return target


def _run(step: str, cmd: list[str], env: dict[str, str], console: Console) -> None:
    """One ``go install -x``, its progress read from what Go prints: modules downloaded, packages
    compiled, the libflux build (cargo, silent). Milestones are printed as lines too, and a count every
    minute, so that a log (CI) shows them."""
    tail: deque[str] = deque(maxlen=40)
    modules = packages = 0
    next_report = time.monotonic() + 60

    def counts() -> str:
        return f"{modules} modules downloaded, {packages} packages compiled"

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # a log (CI) gets the milestone lines only
    ) as progress:
        task = progress.add_task(f"{step}: starting", total=None)
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip())
                if _GET.search(line):
                    modules += 1
                elif match := _COMPILE.search(line):
                    packages += 1
                    progress.update(task, description=f"{step}: {counts()} ({match.group(1)})")
                elif _PKG_CONFIG.search(line):
                    console.print(f"  {step}: Flux's Rust library (cargo build --release, silent)")
                    progress.update(task, description=f"{step}: Flux's Rust library (cargo build --release)")
                if time.monotonic() >= next_report:
                    next_report += 60
                    console.print(f"  {step}: {counts()} so far")
    if proc.returncode != 0:
        raise StackError(
            f"building {step} failed (exit {proc.returncode}). Last lines:\n" + "\n".join(tail),
            "it needs Go 1.26+, cargo (rustup stable), gcc and the Go module proxy and crates.io reachable",
        )
    console.print(f"  {step}: done ({counts()})")

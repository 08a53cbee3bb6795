#!/usr/bin/env bash
# Idempotent setup of a fresh machine for shopstream; both README commands start with it.
#   1. Debian packages the local stack runs (when root; otherwise says what to install)
#   2. the virtual environment .venv with the project and its dev tools
#   3. .env with a random password per role (first run; later: only secrets it lacks), mode 600
#   4. the stack's JVM artefacts from Maven Central, and InfluxDB built from source (Go 1.26+ and cargo
#      needed: the first time some minutes, once per machine), cached in ~/.cache/shopstream
# Usage: scripts/setup.sh [--help]
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

cd "$(dirname "$0")/.."
started=$(date +%s)
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- 1. Debian packages -------------------------------------------------------------------------
# docker-compose (1.29) only validates compose/docker-compose.yml in the tests: no Docker engine needed.
# prometheus and prometheus-alertmanager: the stack's monitoring, and promtool/amtool for the tests.
# InfluxDB is not among them (Debian has only 1.6.7~rc0): step 4 builds it with Go, cargo and gcc.
declare -A need=(
  [mariadbd]=mariadb-server [mariadb-install-db]=mariadb-server [gcc]=gcc
  [mvn]=maven [java]=openjdk-17-jre-headless [docker-compose]=docker-compose
  [prometheus]=prometheus [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager [amtool]=prometheus-alertmanager
)
missing=()
for bin in "${!need[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [[ -x "/usr/sbin/$bin" ]] || missing+=("${need[$bin]}")
done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ $(id -u) -eq 0 ]]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Debian starts the packaged services; shopstream runs its own instances on its own dirs.
    for svc in mariadb prometheus prometheus-alertmanager; do
      if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
      fi
    done
  else
    say "missing Debian packages: ${missing[*]}"
    say "install them as root: sudo apt-get install ${missing[*]}   (then run this again)"
    exit 1
  fi
else
  say "Debian packages present"
fi

# --- 2. Python virtual environment -------------------------------------------------------------
python=""
# Probed quietly: a pyenv shim answers `command -v` for a version it lacks, then prints
# "python3.13: command not found" blocks when run.
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \
    && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
    python=$candidate; break
  fi
done
[[ -n "$python" ]] || { say "Python >= 3.11 is required (apt-get install python3)"; exit 1; }
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.shopstream-installed
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$digest" ]]; then
  say "installing Python packages into .venv (pyspark is large: the first time takes a minute or two)"
  .venv/bin/python -m pip install --upgrade --quiet --progress-bar on pip
  .venv/bin/python -m pip install --progress-bar on -e '.[dev]'
  .venv/bin/python -c 'import confluent_kafka, pyspark, supervisor, typer'  # fail here, not later
  echo "$digest" > "$stamp"
else
  say "Python packages up to date"
fi

# --- 3. .env: generated secrets (never committed) ----------------------------------------------
.venv/bin/python -m shopstream.ops.envfile | while read -r line; do say "$line"; done

# --- 4. JVM artefacts (Maven Central), InfluxDB from source (Go module proxy, crates.io) --------
# Go and Rust are not taken from Debian (too old): without them `fetch` says what to install, and how.
.venv/bin/shopstream fetch

say "done in $(( $(date +%s) - started )) s"

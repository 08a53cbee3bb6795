"""The local ``.env``: settings for this checkout, with a random secret for every password.

``scripts/setup.sh`` runs this (``python -m shopstream.ops.envfile``) on every run: the first writes
``.env`` from ``.env.example`` with a generated value for each secret setting left empty there (every
password); a later one adds only the secret settings the
file lacks (a new one after an update) and changes nothing else. The file is the owner's alone (mode
600) and git ignores it. An empty secret counts as missing: the local stack needs every one (to run
it without security for a measurement, override them in the environment, which wins over ``.env``).

It runs before any settings are read: a stale ``.env`` must not stop it.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

from shopstream.resources import project_dir
from shopstream.settings import secret_variables, variables

_LINE = re.compile(r"^(SHOPSTREAM_[A-Z0-9_]+)=(.*)$")


def _value(_field: str) -> str:
    return secrets.token_urlsafe(24)  # letters, digits, - and _: safe in JAAS, InfluxQL, URLs, INI


def _secret_names() -> dict[str, str]:
    """SHOPSTREAM_X -> field, of the settings that hold secrets."""
    return {f"SHOPSTREAM_{field.upper()}": field for field in secret_variables()}


def render_new(example: str) -> tuple[str, list[str]]:
    """``.env.example``'s text with a generated value for every empty secret; and their names."""
    names, generated, lines = _secret_names(), [], []
    for line in example.splitlines():
        found = _LINE.match(line)
        if found and found.group(1) in names and not found.group(2).strip():
            generated.append(found.group(1))
            lines.append(f"{found.group(1)}={_value(names[found.group(1)])}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", generated


def missing_secrets(current: str) -> list[str]:
    """The secret settings an existing ``.env`` does not set, or sets empty."""
    present = {m.group(1) for line in current.splitlines() if (m := _LINE.match(line)) and m.group(2).strip()}
    return [name for name in _secret_names() if name not in present]


def unknown_settings(current: str) -> list[str]:
    """Names in ``.env`` that are no setting (renamed or removed ones): settings would refuse them."""
    known = {f"SHOPSTREAM_{name.upper()}" for name in variables()}
    return [
        m.group(1) for line in current.splitlines() if (m := _LINE.match(line)) and m.group(1) not in known
    ]


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)


def ensure_env_file(path: Path, example: Path) -> list[str]:
    """Create ``path`` from ``example`` with generated secrets, or add the secrets it lacks; the file
    ends with mode 600. Returns one line per thing done."""
    if not path.exists():
        text, generated = render_new(example.read_text())
        _write(path, text)
        return [f"wrote {path} (mode 600) with {len(generated)} generated secrets"]
    current = path.read_text()
    report = []
    if missing := missing_secrets(current):
        names = _secret_names()
        # empty ones are dropped and set anew below
        kept = [
            line for line in current.splitlines() if not ((m := _LINE.match(line)) and m.group(1) in missing)
        ]
        added = [f"{name}={_value(names[name])}" for name in missing]
        _write(path, "\n".join([*kept, *added]) + "\n")
        report.append(f"added {len(missing)} generated secrets to {path}: {', '.join(missing)}")
    else:
        path.chmod(0o600)
        report.append(f"{path}: every secret setting is there (mode 600)")
    if unknown := unknown_settings(current):
        report.append(
            f"{path} names settings that do not exist (remove or rename them): {', '.join(unknown)}"
        )
    return report


def main() -> None:
    home = project_dir()
    for line in ensure_env_file(home / ".env", home / ".env.example"):
        print(line)
    sys.exit(0)


if __name__ == "__main__":
    main()

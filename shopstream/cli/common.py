"""What every command module shares: the consoles and the settings the entry built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from shopstream.errors import SettingsError
from shopstream.settings import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings built once by the entry's callback (``ctx.obj``), for this command."""
    settings = ctx.obj
    if not isinstance(settings, Settings):
        raise SettingsError("no settings in the command's context", "run it through the shopstream command")
    return settings


def emit_result(result: dict[str, Any], json_out: Path | None) -> None:
    """A benchmark's result as JSON on stdout, and into ``json_out`` when given."""
    out.print_json(json.dumps(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))

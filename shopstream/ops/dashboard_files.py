"""The dashboard files under grafana/dashboards: every dashboard of the product (the KPI and pipeline
ones of ``ops.dashboards``, the platform one of ``ops.platform_dashboard``) generated, rendered and
written or checked (``shopstream dashboards``)."""

from __future__ import annotations

import json
from pathlib import Path

from shopstream.ops.dashboards import Json, campaigns, dashboards_dir, demographics, funnel, pipeline
from shopstream.ops.platform_dashboard import platform


def build() -> dict[str, Json]:
    """File name -> dashboard."""
    return {
        "campaigns.json": campaigns(),
        "funnel.json": funnel(),
        "demographics.json": demographics(),
        "pipeline.json": pipeline(),
        "platform.json": platform(),
    }


def render(dashboard_json: Json) -> str:
    return json.dumps(dashboard_json, indent=2, ensure_ascii=False) + "\n"


def write_dashboards(*, check: bool = False) -> list[Path]:
    """Write every dashboard whose file differs from the generated one (``check``: write nothing);
    the files that were (or would be) written."""
    stale: list[Path] = []
    for name, content in build().items():
        path = dashboards_dir() / name
        text = render(content)
        if path.exists() and path.read_text("utf-8") == text:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, "utf-8")
    return stale

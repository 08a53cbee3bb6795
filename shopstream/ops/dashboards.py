"""Dashboards as code: ``shopstream dashboards`` writes ``grafana/dashboards/*.json``.

The JSON files are what Grafana loads (the file provider in ``grafana/provisioning/dashboards``);
this module is their single source. ``shopstream dashboards --check`` exits 1 when a checked-in file
differs from what this module generates, and the unit tests assert the same.

Queries follow the InfluxDB measurement contract (``shopstream.contracts.measurements``, see
``grafana/README.md``): points are KPI windows (time = window start), so additive fields are summed
per Grafana interval and ratios are computed from sums (ratio of sums, never mean of ratios).
InfluxQL answers ``x / 0`` with 0, the same convention the Spark job uses for conversion and
average order value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopstream.contracts import Topic, age_bands
from shopstream.resources import project_file

Json = dict[str, Any]

SCHEMA_VERSION = 39  # Grafana 10.4 / 11.x dashboard schema
INFLUXDB_UID = "shopstream-influxdb"
MYSQL_UID = "shopstream-mariadb"
PROMETHEUS_UID = "shopstream-prometheus"  # the platform dashboard's (ops/platform_dashboard.py)
DATASOURCE_TYPES = {INFLUXDB_UID: "influxdb", MYSQL_UID: "mysql", PROMETHEUS_UID: "prometheus"}
CURRENCY = "currencyEUR"  # the shop's single currency (see schemas/avro/shop_event.v1.avsc)
KPI_MIN_INTERVAL = "1m"  # = the Spark job's default window: one bucket never splits a window
DASHBOARD_TAG = "shopstream"
# the pipeline_stage telemetry's stages: every topic but the demographics changelog
STAGES = tuple(t.value for t in Topic if t is not Topic.DEMOGRAPHICS)
DLQ_STAGES = (Topic.EVENTS_DLQ.value, Topic.KPI_DLQ.value, Topic.ENRICHED_DLQ.value)


def grafana_dir() -> Path:
    """``grafana/``: provisioning and the generated dashboards."""
    return project_file("grafana")


def dashboards_dir() -> Path:
    return grafana_dir() / "dashboards"


def datasources_file() -> Path:
    return grafana_dir() / "provisioning" / "datasources" / "datasources.yml"


# --- query fragments ---------------------------------------------------------------------------
CAMPAIGN_VARIABLE = "campaign"
CAMPAIGN_FILTER = f'"campaign_id" =~ /^${CAMPAIGN_VARIABLE}$/'
REVENUE = 'sum("revenue_cents") / 100'
CONVERSION = 'sum("purchases") / sum("clicks")'
AOV = 'sum("revenue_cents") / sum("purchases") / 100'
FUNNEL_COUNTS = (
    'sum("views") AS "views", sum("clicks") AS "clicks", '
    'sum("add_to_carts") AS "add_to_carts", sum("purchases") AS "purchases"'
)
FUNNEL_STEPS = (
    'sum("clicks") / sum("views") AS "view_to_click", '
    'sum("add_to_carts") / sum("clicks") AS "click_to_cart", '
    'sum("purchases") / sum("add_to_carts") AS "cart_to_purchase", '
    'sum("purchases") / sum("views") AS "view_to_purchase"'
)
PER_INTERVAL = "GROUP BY time($__interval)"


def _campaigns(select: str, group_by: str = "") -> str:
    """An InfluxQL query on kpi_campaign restricted to the time range and the $campaign variable."""
    query = f'SELECT {select} FROM "kpi_campaign" WHERE $timeFilter AND {CAMPAIGN_FILTER}'
    return f"{query} {group_by}".rstrip()


def _segments(select: str, group_by: str) -> str:
    return f'SELECT {select} FROM "kpi_segment" WHERE $timeFilter {group_by}'


def _stages(select: str, group_by: str, where: str = "") -> str:
    condition = f"$timeFilter AND ({where})" if where else "$timeFilter"
    return f'SELECT {select} FROM "pipeline_stage" WHERE {condition} {group_by}'


def age_band_sql(column: str = "age") -> str:
    """The contract's age bands (the Spark job's) as a SQL CASE expression."""
    bands = age_bands()
    oldest_low, oldest_label = bands.oldest
    cases = [f"WHEN {column} >= {oldest_low} THEN '{oldest_label}'"]
    cases += [f"WHEN {column} BETWEEN {low} AND {high} THEN '{label}'" for low, high, label in bands.bands]
    return f"CASE {' '.join(cases)} ELSE 'unknown' END"


# --- panel and target builders -----------------------------------------------------------------
def datasource(uid: str) -> Json:
    return {"type": DATASOURCE_TYPES[uid], "uid": uid}


def influx(query: str, *, alias: str = "", table: bool = False, ref: str = "A") -> Json:
    """A raw InfluxQL target (Grafana substitutes $timeFilter, $__interval and variables)."""
    target: Json = {
        "refId": ref,
        "datasource": datasource(INFLUXDB_UID),
        "rawQuery": True,
        "query": query,
        "resultFormat": "table" if table else "time_series",
    }
    if alias:
        target["alias"] = alias
    return target


def mysql(sql: str, ref: str = "A") -> Json:
    """A raw SQL target on MariaDB, as a table."""
    return {
        "refId": ref,
        "datasource": datasource(MYSQL_UID),
        "editorMode": "code",
        "format": "table",
        "rawQuery": True,
        "rawSql": sql,
    }


_REDUCE_LAST: Json = {"calcs": ["lastNotNull"], "fields": "", "values": False}
_REDUCE_ROWS: Json = {"calcs": ["lastNotNull"], "fields": "", "values": True}


@dataclass
class Panel:
    """A panel before layout: size in grid units; id and position are given by ``dashboard``."""

    kind: str
    title: str
    description: str
    targets: list[Json]
    width: int = 12
    height: int = 8
    unit: str = ""
    interval: str = ""
    options: Json | None = None
    overrides: list[Json] | None = None
    transformations: list[Json] | None = None
    thresholds: list[Json] | None = None

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {}
        if self.unit:
            defaults["unit"] = self.unit
        if self.thresholds:
            defaults["thresholds"] = {"mode": "absolute", "steps": self.thresholds}
            defaults["color"] = {"mode": "thresholds"}
        panel: Json = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": self.targets[0]["datasource"],
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
        }
        if self.interval:
            panel["interval"] = self.interval
        panel["targets"] = self.targets
        panel["fieldConfig"] = {"defaults": defaults, "overrides": self.overrides or []}
        panel["options"] = self.options or {}
        if self.transformations:
            panel["transformations"] = self.transformations
        return panel


def timeseries(title: str, description: str, query: str, alias: str, unit: str = "", **kw: Any) -> Panel:
    options = {
        "legend": {
            "displayMode": "table",
            "placement": "right",
            "calcs": ["mean", "max"],
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return Panel(
        "timeseries", title, description, [influx(query, alias=alias)], unit=unit, options=options, **kw
    )


def stat(title: str, description: str, target: Json, unit: str = "", **kw: Any) -> Panel:
    options = {
        "reduceOptions": _REDUCE_LAST,
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
    }
    return Panel("stat", title, description, [target], unit=unit, options=options, **kw)


def bargauge(
    title: str, description: str, target: Json, unit: str = "", rows: bool = False, **kw: Any
) -> Panel:
    options = {
        "reduceOptions": _REDUCE_ROWS if rows else _REDUCE_LAST,
        "orientation": "horizontal",
        "displayMode": "gradient",
        "showUnfilled": True,
    }
    return Panel("bargauge", title, description, [target], unit=unit, options=options, **kw)


def piechart(
    title: str, description: str, target: Json, unit: str = "", rows: bool = False, **kw: Any
) -> Panel:
    options = {
        "reduceOptions": _REDUCE_ROWS if rows else _REDUCE_LAST,
        "pieType": "donut",
        "legend": {"displayMode": "table", "placement": "right", "values": ["value", "percent"]},
    }
    return Panel("piechart", title, description, [target], unit=unit, options=options, **kw)


def table(title: str, description: str, target: Json, units: dict[str, str], **kw: Any) -> Panel:
    overrides = [
        {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "unit", "value": unit}]}
        for name, unit in units.items()
    ]
    hide_time = [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]
    options = {"showHeader": True, "cellHeight": "sm"}
    return Panel(
        "table",
        title,
        description,
        [target],
        options=options,
        overrides=overrides,
        transformations=hide_time,
        **kw,
    )


def campaign_variable() -> Json:
    query = 'SHOW TAG VALUES FROM "kpi_campaign" WITH KEY = "campaign_id"'
    return {
        "name": CAMPAIGN_VARIABLE,
        "label": "Campaign",
        "type": "query",
        "datasource": datasource(INFLUXDB_UID),
        "query": query,
        "definition": query,
        "refresh": 2,  # on time range change
        "multi": True,
        "includeAll": True,
        "allValue": ".*",  # a custom all value is not regex-escaped: /^.*$/ matches every campaign
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def dashboard(
    uid: str, title: str, description: str, panels: Sequence[Panel], variables: Sequence[Json] = ()
) -> Json:
    """A dashboard with panel ids 1..n and panels flowed left to right, 24 grid units per row."""
    placed: list[Json] = []
    x = y = row_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        placed.append(panel.to_json(panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [DASHBOARD_TAG],
        "editable": True,
        "graphTooltip": 1,
        "links": [
            {
                "type": "dashboards",
                "tags": [DASHBOARD_TAG],
                "asDropdown": False,
                "title": "shopstream",
                "icon": "external link",
            }
        ],
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "10s",
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "panels": placed,
    }


# --- the dashboards ----------------------------------------------------------------------------
def campaigns() -> Json:
    per_campaign = f'{PER_INTERVAL}, "campaign_id" fill(none)'
    kpi = {"interval": KPI_MIN_INTERVAL}
    panels = [
        stat(
            "Revenue",
            "Revenue of the selected campaigns in the time range.",
            influx(_campaigns(f'{REVENUE} AS "revenue"')),
            CURRENCY,
            width=6,
            height=4,
        ),
        stat(
            "Purchases",
            "Purchases of the selected campaigns in the time range.",
            influx(_campaigns('sum("purchases") AS "purchases"')),
            "short",
            width=6,
            height=4,
        ),
        stat(
            "Conversion",
            "Purchases / clicks over the time range (0 when there were no clicks).",
            influx(_campaigns(f'{CONVERSION} AS "conversion"')),
            "percentunit",
            width=6,
            height=4,
        ),
        stat(
            "Average order value",
            "Revenue / purchases over the time range (0 when there were none).",
            influx(_campaigns(f'{AOV} AS "aov"')),
            CURRENCY,
            width=6,
            height=4,
        ),
        timeseries(
            "Revenue per campaign",
            "Revenue per campaign and interval (sum of its windows).",
            _campaigns(f'{REVENUE} AS "revenue"', per_campaign),
            "$tag_campaign_id",
            CURRENCY,
            **kpi,
        ),
        timeseries(
            "Conversion rate per campaign",
            "Purchases / clicks per campaign and interval.",
            _campaigns(f'{CONVERSION} AS "conversion"', per_campaign),
            "$tag_campaign_id",
            "percentunit",
            **kpi,
        ),
        timeseries(
            "Average order value per campaign",
            "Revenue / purchases per campaign and interval.",
            _campaigns(f'{AOV} AS "aov"', per_campaign),
            "$tag_campaign_id",
            CURRENCY,
            **kpi,
        ),
        timeseries(
            "Active users per campaign",
            "Distinct users of the busiest window in each interval.",
            _campaigns('max("active_users") AS "active_users"', per_campaign),
            "$tag_campaign_id",
            "short",
            **kpi,
        ),
        table(
            "Campaign totals",
            "Funnel counts, units, revenue, conversion and average order value per campaign.",
            influx(
                _campaigns(
                    f'{FUNNEL_COUNTS}, sum("units") AS "units", {REVENUE} AS "revenue", '
                    f'{CONVERSION} AS "conversion", {AOV} AS "aov"',
                    'GROUP BY "campaign_id"',
                ),
                table=True,
            ),
            {"revenue": CURRENCY, "aov": CURRENCY, "conversion": "percentunit"},
            width=24,
            height=9,
        ),
    ]
    return dashboard(
        "shopstream-campaigns",
        "shopstream / Campaign performance",
        "Revenue, conversion and average order value per campaign, from kpi_campaign windows.",
        panels,
        [campaign_variable()],
    )


def funnel() -> Json:
    kpi = {"interval": KPI_MIN_INTERVAL}
    panels = [
        bargauge(
            "Funnel",
            "Views -> clicks -> add to carts -> purchases over the time range.",
            influx(_campaigns(FUNNEL_COUNTS), alias="$col"),
            "short",
            width=12,
            height=8,
        ),
        stat(
            "Step conversion",
            "Share of each step that reaches the next one, and views to purchases.",
            influx(_campaigns(FUNNEL_STEPS), alias="$col"),
            "percentunit",
            width=12,
            height=8,
        ),
        timeseries(
            "Funnel over time",
            "Funnel counts per interval (sum of the windows in it).",
            _campaigns(FUNNEL_COUNTS, f"{PER_INTERVAL} fill(none)"),
            "$col",
            "short",
            **kpi,
        ),
        timeseries(
            "Step conversion over time",
            "Step conversion rates per interval.",
            _campaigns(FUNNEL_STEPS, f"{PER_INTERVAL} fill(none)"),
            "$col",
            "percentunit",
            **kpi,
        ),
        table(
            "Funnel per campaign",
            "Funnel counts and step conversion per campaign over the time range.",
            influx(_campaigns(f"{FUNNEL_COUNTS}, {FUNNEL_STEPS}", 'GROUP BY "campaign_id"'), table=True),
            {
                name: "percentunit"
                for name in ("view_to_click", "click_to_cart", "cart_to_purchase", "view_to_purchase")
            },
            width=24,
            height=9,
        ),
    ]
    return dashboard(
        "shopstream-funnel",
        "shopstream / Funnel",
        "Views -> clicks -> add to carts -> purchases, from kpi_campaign windows.",
        panels,
        [campaign_variable()],
    )


def demographics() -> Json:
    sales = f'{REVENUE} AS "revenue", sum("purchases") AS "purchases", {AOV} AS "aov"'
    sales_units = {"revenue": CURRENCY, "aov": CURRENCY}
    kpi = {"interval": KPI_MIN_INTERVAL}
    band = age_band_sql()
    panels = [
        piechart(
            "Revenue by gender",
            "Revenue per gender over the time range.",
            influx(_segments(f'{REVENUE} AS "revenue"', 'GROUP BY "gender"'), alias="$tag_gender"),
            CURRENCY,
            width=8,
        ),
        bargauge(
            "Revenue by age band",
            "Revenue per age band over the time range.",
            influx(_segments(f'{REVENUE} AS "revenue"', 'GROUP BY "age_band"'), alias="$tag_age_band"),
            CURRENCY,
            width=8,
        ),
        bargauge(
            "Purchases by age band",
            "Purchases per age band over the time range.",
            influx(
                _segments('sum("purchases") AS "purchases"', 'GROUP BY "age_band"'), alias="$tag_age_band"
            ),
            "short",
            width=8,
        ),
        timeseries(
            "Revenue by gender over time",
            "Revenue per gender and interval.",
            _segments(f'{REVENUE} AS "revenue"', f'{PER_INTERVAL}, "gender" fill(none)'),
            "$tag_gender",
            CURRENCY,
            **kpi,
        ),
        timeseries(
            "Purchases by age band over time",
            "Purchases per age band and interval.",
            _segments('sum("purchases") AS "purchases"', f'{PER_INTERVAL}, "age_band" fill(none)'),
            "$tag_age_band",
            "short",
            **kpi,
        ),
        *(
            table(
                f"Sales by {label}",
                f"Revenue, purchases and average order value per {noun}.",
                influx(_segments(sales, f'GROUP BY "{tag}"'), table=True),
                sales_units,
                width=8,
            )
            for tag, label, noun in (
                ("gender", "gender", "gender"),
                ("age_band", "age band", "age band"),
                ("state", "state", "state code"),
            )
        ),
        piechart(
            "Customers by gender",
            "Customers in the demographics table (MariaDB) per gender.",
            mysql("SELECT gender, COUNT(*) AS customers FROM demographics GROUP BY gender ORDER BY gender"),
            "short",
            rows=True,
            width=8,
        ),
        bargauge(
            "Customers by age band",
            "Customers in the demographics table (MariaDB) per age band.",
            mysql(
                f"SELECT {band} AS age_band, COUNT(*) AS customers FROM demographics "
                "GROUP BY age_band ORDER BY age_band"
            ),
            "short",
            rows=True,
            width=8,
        ),
        table(
            "Customers by state",
            "Customers in the demographics table (MariaDB) per country and state.",
            mysql(
                "SELECT country, state, COUNT(*) AS customers FROM demographics "
                "GROUP BY country, state ORDER BY customers DESC, country, state"
            ),
            {"customers": "short"},
            width=8,
        ),
    ]
    return dashboard(
        "shopstream-demographics",
        "shopstream / Demographics",
        "Sales per gender, age band and state (kpi_segment), and the customer population (MariaDB).",
        panels,
    )


def pipeline() -> Json:
    dlq = " OR ".join(f"\"stage\" = '{stage}'" for stage in DLQ_STAGES)
    per_stage = f'{PER_INTERVAL}, "stage" fill(none)'
    panels = [
        timeseries(
            "Throughput per stage",
            "Records/s into each stage's topic (mean of the samples).",
            _stages('mean("rate") AS "rate"', per_stage),
            "$tag_stage",
            "rps",
            width=16,
        ),
        stat(
            "Records per stage",
            "Records in each stage's topic at the last sample.",
            influx(_stages('last("records") AS "records"', 'GROUP BY "stage"'), alias="$tag_stage"),
            "short",
            width=8,
        ),
        stat(
            "Dead letters",
            "Records in the dead-letter topics at the last sample.",
            influx(_stages('last("records") AS "records"', 'GROUP BY "stage"', dlq), alias="$tag_stage"),
            "short",
            width=8,
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
        ),
        timeseries(
            "New dead letters",
            "Records added to the dead-letter topics per interval.",
            _stages('non_negative_difference(last("records")) AS "new"', per_stage, dlq),
            "$tag_stage",
            "short",
            width=16,
        ),
        timeseries(
            "Consumer lag",
            "Largest consumer lag per stage and interval (0 if the stage has no consumer).",
            _stages('max("lag") AS "lag"', per_stage),
            "$tag_stage",
            "short",
            width=16,
        ),
        bargauge(
            "Current consumer lag",
            "Consumer lag per stage at the last sample.",
            influx(_stages('last("lag") AS "lag"', 'GROUP BY "stage"'), alias="$tag_stage"),
            "short",
            width=8,
        ),
    ]
    return dashboard(
        "shopstream-pipeline",
        "shopstream / Pipeline health",
        "Throughput, dead letters and consumer lag per stage, from the pipeline monitor's pipeline_stage.",
        panels,
    )


# --- reading dashboards back (tests) -----------------------------------------------------------
def load_checked_in(directory: Path | None = None) -> dict[str, Json]:
    """The dashboard files as Grafana would read them."""
    folder = directory or dashboards_dir()
    return {path.name: json.loads(path.read_text("utf-8")) for path in sorted(folder.glob("*.json"))}


def iter_panels(dashboard_json: Json) -> Iterator[Json]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard_json.get("panels", []):
        yield panel
        yield from panel.get("panels", [])

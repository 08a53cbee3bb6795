"""InfluxDB 1.x (Debian's influxdb) with its own dirs, HTTP on 127.0.0.1, authentication on."""

from __future__ import annotations

import requests

from shopstream.clients.influx import InfluxClient
from shopstream.errors import StackError
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext, require_binary
from shopstream.stack.supervisor import Program


def render_config(ctx: StackContext) -> str:
    home = ctx.paths.service_dir("influxdb")
    return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{ctx.settings.influxdb_port + 2}"

[meta]
  dir = "{home / "meta"}"

[data]
  dir = "{home / "data"}"
  wal-dir = "{home / "wal"}"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{ctx.settings.influxdb_port}"
  auth-enabled = true
  log-enabled = false
  max-body-size = 0

[monitor]
  store-enabled = false

[logging]
  level = "warn"
"""


def _query(ctx: StackContext, q: str, *, auth: bool = True) -> requests.Response:
    s = ctx.settings
    params = {"q": q}
    if auth:
        params |= {"u": s.influxdb_user, "p": s.influxdb_password.get_secret_value()}
    return requests.post(f"{s.influxdb_url}/query", params=params, timeout=10)


def _bootstrap(ctx: StackContext) -> None:
    s = ctx.settings
    if _query(ctx, "SHOW USERS").status_code != 200:
        # With auth on, InfluxDB accepts exactly one unauthenticated statement: creating the first admin.
        resp = _query(
            ctx,
            f"CREATE USER \"{s.influxdb_user}\" WITH PASSWORD '{s.influxdb_password.get_secret_value()}'"
            " WITH ALL PRIVILEGES",
            auth=False,
        )
        if resp.status_code != 200 or "error" in resp.text:
            raise StackError(
                f"InfluxDB admin user could not be created ({resp.status_code} {resp.text.strip()}); "
                f"an admin with another password exists",
                "set SHOPSTREAM_INFLUXDB_PASSWORD to it or `stack down --purge`",
            )
    resp = _query(ctx, f'CREATE DATABASE "{s.influxdb_database}"')
    if resp.status_code != 200 or '"error"' in resp.text:
        raise StackError(f"InfluxDB: CREATE DATABASE failed: {resp.status_code} {resp.text.strip()}")


def _ping(ctx: StackContext) -> str:
    return InfluxClient(ctx.settings, timeout_s=3).ping()  # names the address and the setting


def _probe(ctx: StackContext) -> str:
    version = _ping(ctx)
    resp = _query(ctx, "SHOW DATABASES")
    if resp.status_code != 200 or ctx.settings.influxdb_database not in resp.text:
        raise StackError(f"InfluxDB SHOW DATABASES: {resp.status_code} {resp.text.strip()[:200]}")
    return version


def service(ctx: StackContext) -> Service:
    conf = ctx.paths.service_dir("influxdb") / "influxdb.conf"

    def prepare() -> None:
        # only when `stack up` starts it: a restart by the supervisor reads the same file
        conf.write_text(render_config(ctx))

    def program() -> Program:
        command = [require_binary("influxd", "influxdb"), "-config", str(conf)]
        return Program("influxdb", command, restart=RestartPolicy(startsecs=3))

    port = ctx.settings.influxdb_port
    return Service(
        name="influxdb",
        ports={port: "SHOPSTREAM_INFLUXDB_URL", port + 2: "SHOPSTREAM_INFLUXDB_URL (RPC = port+2)"},
        program=program,
        probe=lambda: _probe(ctx),
        prepare=prepare,
        bootstrap=lambda: _bootstrap(ctx),
        ready=lambda: _ping(ctx),
    )

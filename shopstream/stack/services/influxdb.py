"""InfluxDB OSS 1.x (built from source by ``shopstream.stack.influxd``, cached per version) with its own
dirs, HTTP and RPC on 127.0.0.1, authentication on, Flux and pprof off.

Users: the admin (created at the first start: the one statement InfluxDB takes without credentials),
used only for setup; the writer (WRITE on the database) and the reader (READ), created or updated by
every bootstrap. Requests authenticate by Basic auth, never by URL parameters (the HTTP log is off).
"""

from __future__ import annotations

import requests

from shopstream.clients.influx import InfluxClient, ensure_users, provision_database
from shopstream.errors import StackError
from shopstream.stack.influxd import ensure_influxd
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.supervisor import Program


def render_config(ctx: StackContext) -> str:
    """InfluxDB 1.13's config: what differs from its defaults (``influxd config`` prints them all)."""
    home = ctx.paths.service_dir("influxdb")
    return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{ctx.settings.influxdb.port + 2}"

[meta]
  dir = "{home / "meta"}"

[data]
  dir = "{home / "data"}"
  wal-dir = "{home / "wal"}"
  query-log-enabled = false
  index-version = "{ctx.settings.influxdb.index}"
  max-series-per-database = {ctx.settings.influxdb.max_series_per_database}

[http]
  enabled = true
  bind-address = "127.0.0.1:{ctx.settings.influxdb.port}"
  auth-enabled = true
  log-enabled = false
  max-body-size = 0
  flux-enabled = false
  # /debug/pprof would answer without credentials (pprof-auth-enabled is off by default)
  pprof-enabled = false

[monitor]
  store-enabled = false

[logging]
  level = "warn"
"""


def _query(ctx: StackContext, q: str, *, auth: bool = True) -> requests.Response:
    s = ctx.settings
    login = s.influxdb.login("admin")
    credentials = (login.user, login.secret) if auth else None
    return requests.post(f"{s.influxdb.url}/query", data={"q": q}, auth=credentials, timeout=10)


def _bootstrap(ctx: StackContext) -> None:
    s = ctx.settings
    admin = s.influxdb.login("admin")
    if not admin.secret:
        raise StackError(f"{admin.password_setting} is empty", admin.hint)
    if _query(ctx, "SHOW USERS").status_code != 200:
        # With auth on, InfluxDB accepts exactly one unauthenticated statement: creating the first admin.
        password = admin.secret.replace("\\", "\\\\").replace("'", "\\'")
        resp = _query(
            ctx, f"CREATE USER \"{admin.user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES", auth=False
        )
        if resp.status_code != 200 or "error" in resp.text:
            raise StackError(
                f"InfluxDB admin user could not be created ({resp.status_code} {resp.text.strip()}); "
                f"an admin with another password exists",
                f"set {admin.user_setting} / {admin.password_setting} to it or `stack down --purge`",
            )
    ensure_users(s.influxdb)
    provision_database(s.influxdb)


def _ping(ctx: StackContext) -> str:
    return InfluxClient(ctx.settings.influxdb, timeout_s=3).ping()  # names the address and the setting


def _probe(ctx: StackContext) -> str:
    version = _ping(ctx)
    client = InfluxClient(ctx.settings.influxdb, timeout_s=3)  # as the reader: it sees only its databases
    try:
        names = [str(row["name"]) for s in client.query("SHOW DATABASES") for row in s.rows]
    finally:
        client.close()
    if ctx.settings.influxdb.database not in names:
        raise StackError(f"InfluxDB: the reader cannot see {ctx.settings.influxdb.database} ({names})")
    return version


def service(ctx: StackContext) -> Service:
    conf = ctx.paths.service_dir("influxdb") / "influxdb.conf"

    def prepare() -> None:
        # only when `stack up` starts it: a restart by the supervisor reads the same file
        conf.write_text(render_config(ctx))

    def program() -> Program:
        command = [str(ensure_influxd(ctx.paths.cache)), "run", "-config", str(conf)]
        return Program("influxdb", command, restart=RestartPolicy(startsecs=3))

    port = ctx.settings.influxdb.port
    return Service(
        name="influxdb",
        ports={port: "SHOPSTREAM_INFLUXDB_URL", port + 2: "SHOPSTREAM_INFLUXDB_URL (RPC = port+2)"},
        program=program,
        probe=lambda: _probe(ctx),
        prepare=prepare,
        bootstrap=lambda: _bootstrap(ctx),
        ready=lambda: _ping(ctx),
    )

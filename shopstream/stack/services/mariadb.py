"""MariaDB (Debian's mariadb-server) with its own datadir, binlog in ROW/FULL for change capture.

Root can log in only through the unix socket (socket auth), never over TCP. The application user
owns the shopstream database; the CDC user has just the grants Debezium's MariaDB connector needs.
"""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

import pymysql

from shopstream.clients.mariadb import check_reachable
from shopstream.errors import StackError
from shopstream.settings import SETUP_HINT
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext, require_binary
from shopstream.stack.supervisor import Program

REGISTRY_DATABASE = "apicurio_registry"
CDC_GRANTS = "SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT"


def _paths(ctx: StackContext) -> tuple[Path, Path, Path]:
    home = ctx.paths.service_dir("mariadb")
    return home / "my.cnf", home / "data", home / "mariadb.sock"


def render_config(ctx: StackContext) -> str:
    cnf, data, sock = _paths(ctx)
    home = cnf.parent
    lines = [
        "[mysqld]",
        f"datadir={data}",
        f"socket={sock}",
        f"pid-file={home / 'mariadb.pid'}",
        f"port={ctx.settings.mysql.port}",
        "bind-address=127.0.0.1",
        "skip-name-resolve",
        f"log_bin={home / 'binlog' / 'mariadb-bin'}",
        "binlog_format=ROW",
        "binlog_row_image=FULL",
        "server_id=1",
        "binlog_expire_logs_seconds=259200",
        "innodb_buffer_pool_size=256M",
        "max_connections=200",
        "character-set-server=utf8mb4",
        "collation-server=utf8mb4_unicode_ci",
    ]
    if getpass.getuser() == "root":
        lines.insert(1, "user=root")
    return "\n".join(lines) + "\n"


def _prepare(ctx: StackContext) -> None:
    cnf, data, _ = _paths(ctx)
    (cnf.parent / "binlog").mkdir(exist_ok=True)
    cnf.write_text(render_config(ctx))
    if (data / "mysql").is_dir():
        return
    install = require_binary("mariadb-install-db", "mariadb-server")
    result = subprocess.run(
        [install, f"--defaults-file={cnf}", "--skip-test-db", "--auth-root-authentication-method=socket"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")


def root_connection(ctx: StackContext) -> pymysql.Connection[pymysql.cursors.Cursor]:
    """Admin connection over the unix socket (socket auth as the OS user that installed the db)."""
    _, _, sock = _paths(ctx)
    return pymysql.connect(unix_socket=str(sock), user=getpass.getuser(), connect_timeout=5)


def _bootstrap(ctx: StackContext) -> None:
    s = ctx.settings
    app_pw = s.mysql.password.get_secret_value()
    cdc_pw = s.mysql.cdc_password.get_secret_value()
    for name, value in (("SHOPSTREAM_MYSQL_PASSWORD", app_pw), ("SHOPSTREAM_MYSQL_CDC_PASSWORD", cdc_pw)):
        if not value:
            raise StackError(f"{name} is empty", f"set it ({SETUP_HINT})")
    statements = [f"CREATE DATABASE IF NOT EXISTS `{db}`" for db in (s.mysql.database, REGISTRY_DATABASE)]
    for host in ("127.0.0.1", "localhost"):
        app, cdc = f"'{s.mysql.user}'@'{host}'", f"'{s.mysql.cdc_user}'@'{host}'"
        statements += [
            f"CREATE USER IF NOT EXISTS {app} IDENTIFIED BY %(app)s",
            f"ALTER USER {app} IDENTIFIED BY %(app)s",
            f"GRANT ALL PRIVILEGES ON `{s.mysql.database}`.* TO {app}",
            f"GRANT ALL PRIVILEGES ON `{REGISTRY_DATABASE}`.* TO {app}",
            f"CREATE USER IF NOT EXISTS {cdc} IDENTIFIED BY %(cdc)s",
            f"ALTER USER {cdc} IDENTIFIED BY %(cdc)s",
            f"GRANT {CDC_GRANTS} ON *.* TO {cdc}",
        ]
    # mariadb-install-db leaves anonymous accounts on some versions: never allow them.
    statements.append("DELETE FROM mysql.global_priv WHERE User=''")
    statements.append("FLUSH PRIVILEGES")
    with root_connection(ctx) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement, {"app": app_pw, "cdc": cdc_pw} if "%(" in statement else None)
        conn.commit()


def _probe(ctx: StackContext) -> str:
    return check_reachable(ctx.settings.mysql)  # as the application user; names address and settings


def _root_probe(ctx: StackContext) -> str:
    """Before bootstrap the application user may not exist yet: ask over the socket."""
    with root_connection(ctx) as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]).split("-")[0] if row else "?"


def service(ctx: StackContext) -> Service:
    def program() -> Program:
        cnf, _, _ = _paths(ctx)
        command = [require_binary("mariadbd", "mariadb-server"), f"--defaults-file={cnf}"]
        return Program("mariadb", command, restart=RestartPolicy(startsecs=3))

    return Service(
        name="mariadb",
        ports={ctx.settings.mysql.port: "SHOPSTREAM_MYSQL_PORT"},
        program=program,
        probe=lambda: _probe(ctx),
        prepare=lambda: _prepare(ctx),
        bootstrap=lambda: _bootstrap(ctx),
        ready=lambda: _root_probe(ctx),
    )

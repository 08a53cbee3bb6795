"""MariaDB (or MySQL) over TCP as the application user, with pymysql: one place that connects and
turns a connection failure into an error naming the address and the settings to change."""

from __future__ import annotations

import re
from typing import Any

import pymysql

from shopstream.errors import DatabaseError
from shopstream.settings import MysqlSettings

CONNECT_TIMEOUT_S = 5
UNREACHABLE = {2002, 2003, 2005, 2006, 2013}  # CR_CONNECTION_ERROR ... CR_SERVER_LOST: nothing answered
ACCESS_DENIED = {1044, 1045, 1698}


def address(mysql: MysqlSettings) -> str:
    return f"{mysql.host}:{mysql.port}"


def unreachable(mysql: MysqlSettings, reason: str) -> DatabaseError:
    return DatabaseError(
        f"MariaDB unreachable at {address(mysql)} ({reason})",
        "is it running (`shopstream stack status`) and are SHOPSTREAM_MYSQL_HOST and "
        "SHOPSTREAM_MYSQL_PORT right?",
    )


def _reason(exc: pymysql.err.MySQLError) -> str:
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^)\]]+)", text) or re.search(r"\((timed out)\)", text)
    return found.group(1).lower() if found else text


def connect(
    mysql: MysqlSettings, *, database: str | None = None, **options: Any
) -> pymysql.Connection[pymysql.cursors.Cursor]:
    """A connection as the application user to ``database`` (default: the settings' database);
    ``DatabaseError`` naming the address and the setting when it cannot be had."""
    try:
        return pymysql.connect(
            host=mysql.host,
            port=mysql.port,
            user=mysql.user,
            password=mysql.password.get_secret_value(),
            database=database if database is not None else mysql.database,
            connect_timeout=CONNECT_TIMEOUT_S,
            **options,
        )
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in UNREACHABLE:
            raise unreachable(mysql, _reason(exc)) from exc
        if code in ACCESS_DENIED:
            raise DatabaseError(
                f"MariaDB at {address(mysql)} refused user {mysql.user}: {exc.args[1]}",
                "check SHOPSTREAM_MYSQL_USER, SHOPSTREAM_MYSQL_PASSWORD and SHOPSTREAM_MYSQL_DATABASE",
            ) from exc
        raise DatabaseError(f"MariaDB at {address(mysql)}: {exc}") from exc


def check_reachable(mysql: MysqlSettings) -> str:
    """Connect and ask the server's version (quick: refused connections fail at once)."""
    with connect(mysql, database="") as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]).split("-")[0] if row else "?"

"""MariaDB (or MySQL) over TCP as the application user, with pymysql: one place that connects and
turns a connection failure into an error naming the address and the settings to change."""

from __future__ import annotations

import re
from typing import Any

import pymysql

from shopstream.errors import DatabaseError
from shopstream.settings import Settings

CONNECT_TIMEOUT_S = 5
UNREACHABLE = {2002, 2003, 2005, 2006, 2013}  # CR_CONNECTION_ERROR ... CR_SERVER_LOST: nothing answered
ACCESS_DENIED = {1044, 1045, 1698}


def address(settings: Settings) -> str:
    return f"{settings.mysql.host}:{settings.mysql.port}"


def unreachable(settings: Settings, reason: str) -> DatabaseError:
    return DatabaseError(
        f"MariaDB unreachable at {address(settings)} ({reason})",
        "is it running (`shopstream stack status`) and are SHOPSTREAM_MYSQL_HOST and "
        "SHOPSTREAM_MYSQL_PORT right?",
    )


def _reason(exc: pymysql.err.MySQLError) -> str:
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^)\]]+)", text) or re.search(r"\((timed out)\)", text)
    return found.group(1).lower() if found else text


def connect(
    settings: Settings, *, database: str | None = None, **options: Any
) -> pymysql.Connection[pymysql.cursors.Cursor]:
    """A connection as the application user to ``database`` (default: the settings' database);
    ``DatabaseError`` naming the address and the setting when it cannot be had."""
    try:
        return pymysql.connect(
            host=settings.mysql.host,
            port=settings.mysql.port,
            user=settings.mysql.user,
            password=settings.mysql.password.get_secret_value(),
            database=database if database is not None else settings.mysql.database,
            connect_timeout=CONNECT_TIMEOUT_S,
            **options,
        )
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code in UNREACHABLE:
            raise unreachable(settings, _reason(exc)) from exc
        if code in ACCESS_DENIED:
            raise DatabaseError(
                f"MariaDB at {address(settings)} refused user {settings.mysql.user}: {exc.args[1]}",
                "check SHOPSTREAM_MYSQL_USER, SHOPSTREAM_MYSQL_PASSWORD and SHOPSTREAM_MYSQL_DATABASE",
            ) from exc
        raise DatabaseError(f"MariaDB at {address(settings)}: {exc}") from exc


def check_reachable(settings: Settings) -> str:
    """Connect and ask the server's version (quick: refused connections fail at once)."""
    with connect(settings, database="") as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]).split("-")[0] if row else "?"

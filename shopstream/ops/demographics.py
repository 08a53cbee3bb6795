"""Customer demographics in MariaDB: the table, and a seeded, idempotent bulk loader.

The loader makes the table hold exactly ids 1..count with the rows the seed defines: re-running it
changes nothing (MariaDB logs no binlog event for an unchanged row, so the CDC topic stays quiet),
and rows above ``count`` are removed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pymysql
from faker import Faker
from pymysql.constants import ER

from shopstream.clients import mariadb
from shopstream.errors import DatabaseError
from shopstream.settings import Settings

TABLE = "demographics"
DDL = f"""
CREATE TABLE IF NOT EXISTS `{TABLE}` (
  id      BIGINT UNSIGNED  NOT NULL COMMENT 'customer id; events carry it as user_id',
  age     TINYINT UNSIGNED NOT NULL COMMENT 'age in years, 18-90',
  gender  CHAR(1)          NOT NULL COMMENT 'F, M or X',
  state   VARCHAR(8)       NOT NULL COMMENT 'state/province code within the country',
  country CHAR(2)          NOT NULL COMMENT 'ISO 3166-1 alpha-2',
  PRIMARY KEY (id),
  KEY idx_segment (gender, age, state),
  KEY idx_geo (country, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='customer demographics (shopstream)'
"""
UPSERT = (
    f"INSERT INTO `{TABLE}` (id, age, gender, state, country) VALUES (%s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE age=VALUES(age), gender=VALUES(gender), state=VALUES(state), "
    "country=VALUES(country)"
)
# (country, Faker locale, weight): states come from each locale's own list of codes.
COUNTRIES = (("US", "en_US", 0.70), ("CA", "en_CA", 0.15), ("AU", "en_AU", 0.15))
GENDERS = (("F", 0.49), ("M", 0.49), ("X", 0.02))

Row = tuple[int, int, str, str, str]


@dataclass(frozen=True)
class LoadResult:
    rows: int
    seconds: float
    deleted: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _state_codes(locale: str) -> list[str]:
    address = Faker(locale).provider("faker.providers.address")
    return sorted(set(getattr(address, "states_abbr", None) or address.provinces_abbr))


def generate(count: int, seed: int) -> Iterator[Row]:
    """Rows for ids 1..count; the same seed always gives the same rows.

    State codes come from Faker's locale data; the draws come from one seeded RNG, which is
    deterministic and ~20x faster than a Faker call per row.
    """
    rng = random.Random(seed)
    states = {country: _state_codes(locale) for country, locale, _ in COUNTRIES}
    country_codes = [c for c, _, _ in COUNTRIES]
    country_weights = [w for _, _, w in COUNTRIES]
    genders = [g for g, _ in GENDERS]
    gender_weights = [w for _, w in GENDERS]
    for start in range(1, count + 1, 10_000):
        n = min(10_000, count + 1 - start)
        countries = rng.choices(country_codes, country_weights, k=n)
        sexes = rng.choices(genders, gender_weights, k=n)
        for i in range(n):
            country = countries[i]
            age = min(90, max(18, round(rng.triangular(18, 90, 33))))
            yield (start + i, age, sexes[i], rng.choice(states[country]), country)


@contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    try:
        yield
    except pymysql.err.MySQLError as exc:
        raise DatabaseError(
            f"MariaDB at {mariadb.address(settings.mysql)} failed: {exc}",
            "is it running (`shopstream stack status`) and are the SHOPSTREAM_MYSQL_* settings right?",
        ) from exc


def connect(settings: Settings) -> pymysql.Connection[pymysql.cursors.Cursor]:
    """A connection to the settings' database; unreachable: an error naming address and settings."""
    return mariadb.connect(settings.mysql, autocommit=False)


DEMOGRAPHICS_SEED = 42  # the seed `demographics load` writes the table with (unless told otherwise)


def load(
    settings: Settings,
    count: int = 100_000,
    seed: int = DEMOGRAPHICS_SEED,
    batch_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """Upsert ids 1..count in batches (one transaction), delete ids above count."""
    if count < 0 or batch_size < 1:
        raise ValueError("count must be >= 0 and batch_size >= 1")
    started = time.perf_counter()
    with _database_errors(settings), connect(settings) as conn, conn.cursor() as cur:
        cur.execute(DDL)
        batch: list[Row] = []
        for row in generate(count, seed):
            batch.append(row)
            if len(batch) == batch_size:
                cur.executemany(UPSERT, batch)
                if progress:
                    progress(len(batch))
                batch.clear()
        if batch:
            cur.executemany(UPSERT, batch)
            if progress:
                progress(len(batch))
        deleted = cur.execute(f"DELETE FROM `{TABLE}` WHERE id > %s", (count,))
        conn.commit()
    return LoadResult(count, time.perf_counter() - started, deleted)


def row_count(settings: Settings) -> int:
    with _database_errors(settings), connect(settings) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{TABLE}`")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def require_loaded(settings: Settings) -> int:
    """The rows the demographics table holds, for a command that needs them (the Spark job reads the
    table at start); no table or no rows: an error saying how to load them."""
    try:
        rows = row_count(settings)
    except DatabaseError as exc:
        cause = exc.__cause__
        if not (isinstance(cause, pymysql.err.ProgrammingError) and cause.args[0] == ER.NO_SUCH_TABLE):
            raise
        rows = 0
    if rows == 0:
        where = mariadb.address(settings.mysql)
        raise DatabaseError(
            f"no demographics in MariaDB at {where} (table `{TABLE}` missing or empty)",
            "load them: `shopstream demographics load`",
        )
    return rows


def summary(settings: Settings, result: LoadResult) -> str:
    """What `demographics load` reports: the load's figures and the rows the table holds now."""
    return (
        f"{result.rows:,} rows upserted in {result.seconds:.2f} s ({result.rows_per_s:,.0f} rows/s), "
        f"{result.deleted:,} removed; table holds {row_count(settings):,} rows"
    )

"""Shared helpers of the benchmarks: timing, the report line, the app on a benchmark's
database, bulk-loading SQL and the process's memory."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def time_each(fn: Callable[[], object], n: int) -> list[float]:
    """Run ``fn`` n times; seconds per call."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def report(name: str, value: float, unit: str, target: str, ok: bool) -> bool:
    mark = "ok " if ok else "MISS"
    print(f"  [{mark}] {name:<48} {value:>10.2f} {unit:<8} target {target}")
    return ok


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


@contextlib.contextmanager
def bench_database(tmp: str, name: str) -> Iterator[str]:
    """A fresh, empty database for one benchmark: a SQLite file in ``tmp``, or, when
    ``BENCH_DATABASE_URL`` names a PostgreSQL server, a new database on it that is dropped
    afterwards (so benchmarks never share rows or leave millions behind)."""
    base = os.environ.get("BENCH_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp}/{name}.db"
        return
    import sqlalchemy as sa

    url = sa.make_url(base)
    db_name = f"bench_{name}_{os.getpid()}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    try:
        yield url.set(database=db_name).render_as_string(hide_password=False)
    finally:
        from portal.extensions import db

        with contextlib.suppress(Exception):
            db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def bench_app(url: str, instance: str):
    """The portal (test configuration) on the benchmark's database ``url``."""
    from portal import create_app
    from portal.config import TestConfig

    return create_app(TestConfig, instance_path=instance, SQLALCHEMY_DATABASE_URI=url)


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set (``VmHWM``: its peak). Not ``ru_maxrss``, which on Linux
    may carry the parent's size from before ``exec``."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def row_series(dialect: str, n: int) -> tuple[str, str]:
    """(prefix, FROM clause) yielding the row numbers ``i`` = 1 … n."""
    if dialect == "postgresql":
        return "", f"FROM generate_series(1::bigint, {int(n)}) AS s(i)"
    return (
        f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(n)}) ",
        "FROM s",
    )


def catch_up_sequences(conn, tables: Iterable[str]) -> None:
    """After rows were inserted with their ids (PostgreSQL): each table's id sequence goes
    on from its largest id."""
    import sqlalchemy as sa

    for table in tables:
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        )


def database_label(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"

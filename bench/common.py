"""Shared helpers of the benchmarks: timing and the report line."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator


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


def database_label(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"

"""Foundation benchmarks: what every request and sign-in costs.

- Sign-in hashing with the production argon2id parameters: slow enough to resist guessing
  (SECURITY.md A2) and fast enough for a person (50-500 ms here).
- Audit events: appends per second inside requests, and ``audit verify`` over a long chain.
- A signed-in page (session look-up, idle check, render) through the WSGI stack.

Runs on SQLite in a temporary folder, or on ``BENCH_DATABASE_URL`` (PostgreSQL).
"""

from __future__ import annotations

import sys
import tempfile
import time

from argon2 import PasswordHasher, Type

from bench.common import (
    bench_database,
    database_label,
    median_ms,
    percentile,
    report,
    time_each,
)


def bench_hashing() -> bool:
    from portal.config import Config

    hasher = PasswordHasher(
        time_cost=Config.ARGON2_TIME_COST,
        memory_cost=Config.ARGON2_MEMORY_COST,
        parallelism=Config.ARGON2_PARALLELISM,
        type=Type.ID,
    )
    stored = hasher.hash("a passphrase of some length 42")
    samples = time_each(lambda: hasher.verify(stored, "a passphrase of some length 42"), 10)
    ms = median_ms(samples)
    return report(
        "sign-in password check (argon2id, production)", ms, "ms", "50-500 ms", 50 <= ms <= 500
    )


def bench_audit_and_pages(database_url: str, instance: str) -> bool:
    from flask_migrate import upgrade

    from portal import create_app
    from portal.config import TestConfig
    from portal.core import audit
    from portal.extensions import db

    app = create_app(TestConfig, instance_path=instance, SQLALCHEMY_DATABASE_URI=database_url)
    ok = True
    with app.app_context():
        upgrade()
        n = 20_000
        t = time.perf_counter()
        for i in range(n):
            audit.record("bench.event", actor="bench", n=i)
            if i % 1000 == 999:
                db.session.commit()
        db.session.commit()
        rate = n / (time.perf_counter() - t)
        ok &= report("audit events appended", rate, "per s", ">= 1,000 per s", rate >= 1000)
        t = time.perf_counter()
        result = audit.verify()
        rate = result.checked / (time.perf_counter() - t)
        ok &= report(
            "audit chain verified", rate, "per s", ">= 20,000 per s", result.ok and rate >= 20_000
        )

        from tests.factories import PASSWORD, ResidentFactory

        user = ResidentFactory()
        db.session.commit()
        mobile = user.mobile
    client = app.test_client()
    with app.test_request_context():
        token = client.get("/login").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', token).group(1)
    client.post("/login", data={"identifier": mobile, "password": PASSWORD, "csrf_token": csrf})
    samples = time_each(lambda: client.get("/me"), 500)
    p50, p95 = median_ms(samples), percentile(samples, 95) * 1000
    ok &= report("signed-in page /me, p50", p50, "ms", "<= 10 ms", p50 <= 10)
    ok &= report("signed-in page /me, p95", p95, "ms", "<= 25 ms", p95 <= 25)
    return ok


def main() -> int:
    print("Foundation")
    ok = bench_hashing()
    with tempfile.TemporaryDirectory() as tmp, bench_database(tmp, "foundation") as url:
        print(f"  database: {database_label(url)}")
        ok &= bench_audit_and_pages(url, tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Monthly rental subsidy run benchmarks (issue 5).

- ``compute_month`` for 500,000 households (awards with their facts, some with a second
  basis before or after the month, some not payable): computed and stored ≤ 10 s, peak
  memory ≤ 100 MB; computed again (idempotent: the same checksum and totals) is timed too.
- The run's total compared with an independent sum: ``portal.subsidy.rules.compute`` (the
  Python reference) over the same households, generated again in Python from the formulas
  that wrote them (not read back through the run's SQL): equal to the fen, and the same
  number of households.
- The bank file of the closed month, 500,000 rows, CSV and XLSX through the exports module's
  job: memory ≤ 100 MB (flat as rows are written), its total equal to the run's "to the
  banks".

Memory is measured as ``bench/bench_credit.py`` does: each measured step runs in a fresh
Python process that samples its resident set size every 50 ms and reads its high-water mark
(``VmHWM``) at the end; the figure held against the target is the peak over the RSS just
before the step started (the portal itself, loaded, is beside it). On SQLite the database
engine runs inside that process, so its page cache counts too.

``BENCH_SUBSIDY_SIZE`` scales the households (default 500,000); SQLite by default,
``BENCH_DATABASE_URL`` for PostgreSQL.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from bench.common import (
    bench_app,
    bench_database,
    catch_up_sequences,
    database_label,
    report,
    row_series,
    rss_mb,
)

SIZE = int(os.environ.get("BENCH_SUBSIDY_SIZE", "500000"))
ACCOUNT = "6222020200012345678"
MULTIPLIERS = (2654435761, 2246822519, 3266489917, 668265263, 374761393, 1181783497, 97, 31337)
MONTHS_VALID = 11


def spread_sql(k: int, modulus: int) -> str:
    return f"((i * {MULTIPLIERS[k]} + {k * 7919}) % 1000003 % {modulus})"


def spread(i: int, k: int, modulus: int) -> int:
    """The same number in Python as :func:`spread_sql` in SQL."""
    return (i * MULTIPLIERS[k] + k * 7919) % 1000003 % modulus


# the households, as formulas of the row number i (SQL) and as Python (the reference)
SIZE_SQL = f"1 + {spread_sql(0, 6)}"
ASSIST_SQL = f"({spread_sql(1, 10)} = 0)"
VETERAN_SQL = f"({spread_sql(2, 20)} = 0)"
INCOME_SQL = spread_sql(3, 400001)  # hundredths: 0 … 4,000.00 yuan
OWN_SQL = f"CASE WHEN {spread_sql(4, 8)} = 0 THEN {spread_sql(5, 6001)} ELSE 0 END"
RENT_SQL = f"30000 + {spread_sql(6, 300001)}"  # 300 … 3,300 yuan
LATER_SQL = f"{spread_sql(7, 10)}"  # 0: a basis after the month; 1: one from the month
STATE_SQL = f"{spread_sql(5, 50)}"  # 0 details, 1 suspended, 2 ended with the month


def household(i: int) -> dict:
    return {
        "size": 1 + spread(i, 0, 6),
        "assistance": spread(i, 1, 10) == 0,
        "veteran": spread(i, 2, 20) == 0,
        "income": spread(i, 3, 400001),
        "own": spread(i, 5, 6001) if spread(i, 4, 8) == 0 else 0,
        "rent": 30000 + spread(i, 6, 300001),
        "later": spread(i, 7, 10),
        "state": spread(i, 5, 50),
    }


def _months() -> tuple[date, date, date, date]:
    """The month computed (the current one), the month before, after, and validity's end."""
    from portal.core.clock import today
    from portal.subsidy.services import add_months, month_of

    month = month_of(today())
    return (
        month,
        add_months(month, -1),
        add_months(month, 1),
        add_months(month, MONTHS_VALID),
    )


def populate(n: int) -> tuple[int, int]:
    """A district, an applicant, two managers and ``n`` households: qualified applications,
    awards (ids 1 … n) and their bases. Returns the managers' ids."""
    from portal.accounts.roles import Role
    from portal.core.crypto import protector
    from portal.extensions import db
    from tests.factories import DistrictFactory, ResidentFactory, StaffFactory

    district, resident = DistrictFactory(), ResidentFactory()
    first, second = StaffFactory(role=Role.MANAGER), StaffFactory(role=Role.MANAGER)
    db.session.commit()
    conn = db.session.connection()
    dialect = conn.dialect.name
    prefix, series = row_series(dialect, n)
    month, before, after, valid = _months()
    if dialect == "postgresql":

        def day(d: date) -> str:
            return f"DATE '{d.isoformat()}'"

        now = "now()"
        pad = "lpad(i::text, 10, '0')"
    else:

        def day(d: date) -> str:
            return f"'{d.isoformat()}'"

        now = "'2026-01-01 00:00:00.000000'"
        pad = "substr('0000000000' || i, -10, 10)"
    blob = protector().encrypt(ACCOUNT, "subsidy_awards.bank_account")
    state = STATE_SQL
    statements = [
        f"{prefix}INSERT INTO applications (id, reference, applicant_id, programme, status, "
        f"district_id, created_at, updated_at, qualified_at) "
        f"SELECT i, 'B' || {pad}, {resident.id}, 'rental_subsidy', 'qualified', {district.id}, "
        f"{now}, {now}, {now} {series}",
        f"{prefix}INSERT INTO subsidy_awards (id, reference, application_id, district_id, basis, "
        f"status, starts_month, ends_month, valid_until, payee_name, bank_name, bank_account, "
        f"veteran, created_at, updated_at) "
        f"SELECT i, 'S' || {pad}, i, {district.id}, 'subsidy', "
        f"CASE {state} WHEN 0 THEN 'details' WHEN 1 THEN 'suspended' WHEN 2 THEN 'ended' "
        f"ELSE 'active' END, {day(before)}, "
        f"CASE WHEN {state} = 2 THEN {day(month)} ELSE NULL END, {day(valid)}, "
        f"'测试' || i, '中国工商银行桂林分行', CASE WHEN {state} = 0 THEN NULL ELSE :blob END, "
        f"{VETERAN_SQL}, {now}, {now} {series}",
        f"{prefix}INSERT INTO subsidy_bases (id, award_id, effective_month, household_size, "
        f"assistance, per_capita_income, own_area, actual_rent, source, note, recorded_at) "
        f"SELECT i, i, {day(before)}, {SIZE_SQL}, {ASSIST_SQL}, {INCOME_SQL}, {OWN_SQL}, "
        f"{RENT_SQL}, 'application', '', {now} {series}",
        # a change after the month (not in force) or from the month (in force)
        f"{prefix}INSERT INTO subsidy_bases (id, award_id, effective_month, household_size, "
        f"assistance, per_capita_income, own_area, actual_rent, source, note, recorded_at) "
        f"SELECT {n} + i, i, CASE WHEN {LATER_SQL} = 0 THEN {day(after)} ELSE {day(month)} END, "
        f"{SIZE_SQL}, {ASSIST_SQL}, ({INCOME_SQL} + 50000) % 400001, {OWN_SQL}, {RENT_SQL}, "
        f"'change', '', {now} {series} WHERE {LATER_SQL} < 2",
    ]
    for sql in statements:
        conn.execute(sa.text(sql), {"blob": blob})
    if dialect == "postgresql":
        catch_up_sequences(conn, ("applications", "subsidy_awards", "subsidy_bases"))
    db.session.commit()
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE applications, subsidy_awards, subsidy_bases"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    return first.id, second.id


def independent_sum(n: int) -> tuple[int, Decimal]:
    """The households paid and their total, by the Python rules over the households as
    generated (not read back through the run's SQL)."""
    from portal.subsidy import rules

    values = rules.DEFAULTS
    count, total = 0, Decimal(0)
    for i in range(1, n + 1):
        h = household(i)
        if h["state"] in (0, 1, 2):  # waiting for details, suspended, ended with the month
            continue
        income = (h["income"] + 50000) % 400001 if h["later"] == 1 else h["income"]
        inputs = rules.Inputs(
            household_size=h["size"],
            assistance=h["assistance"],
            veteran=h["veteran"],
            per_capita_income=Decimal(income) / 100,
            own_area=Decimal(h["own"]) / 100,
            actual_rent=Decimal(h["rent"]) / 100,
        )
        amount = rules.compute(inputs, values).amount
        if amount > 0:
            count += 1
            total += amount
    return count, total


class _Sampler:
    def __init__(self) -> None:
        self.baseline = rss_mb()
        self.peak = self.baseline
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def run_compute(url: str, instance: str, manager_id: int) -> dict:
    """In this (fresh) process: compute the month, committed."""
    from portal.accounts.models import User
    from portal.extensions import db
    from portal.subsidy import services

    app = bench_app(url, instance)
    with app.app_context(), app.test_request_context():
        manager = db.session.get(User, manager_id)
        month = _months()[0]
        services.rule_version(month)
        db.session.commit()
        sampler = _Sampler()
        t = time.perf_counter()
        run = services.compute_month(month, manager)
        db.session.commit()
        seconds = time.perf_counter() - t
        sampler.stop()
        return {
            "seconds": seconds,
            "baseline_mb": sampler.baseline,
            "peak_sampled_mb": sampler.peak,
            "peak_rss_mb": rss_mb("VmHWM"),
            "households": run.households,
            "total": str(run.total),
            "to_bank": str(run.to_bank),
            "checksum": run.checksum,
            "run_id": run.id,
            "unchanged": (services.last_computation(run) or {}).get("unchanged"),
        }


def run_export(url: str, instance: str, owner_id: int, run_id: int, fmt: str) -> dict:
    """In this (fresh) process: the bank file through the exports module's job."""
    from portal.exports import services
    from portal.exports.models import Export, ExportStatus
    from portal.extensions import db
    from portal.subsidy import exports as subsidy_exports

    app = bench_app(url, instance)
    marks: dict[int, float] = {}
    quarter = max(1, SIZE // 4)
    kind = subsidy_exports.EXPORT_KINDS["subsidy_bank_file"]
    inner = kind.rows

    def counting(params, export):
        for count, row in enumerate(inner(params, export), start=1):
            if count % quarter == 0:
                marks[count] = rss_mb()
            yield row

    subsidy_exports.EXPORT_KINDS["subsidy_bank_file"] = dataclasses.replace(kind, rows=counting)
    with app.app_context():
        export = Export(
            owner_id=owner_id,
            kind="subsidy_bank_file",
            format=fmt,
            params_json=json.dumps(
                {
                    "run_id": run_id,
                    "districts": None,
                    "default_run_id": run_id,
                    "locale": "zh_Hans_CN",
                }
            ),
            status=ExportStatus.QUEUED,
        )
        db.session.add(export)
        db.session.commit()
        export_id = export.id
        db.session.expire_all()
        sampler = _Sampler()
        t = time.perf_counter()
        services.build_export(export_id)
        seconds = time.perf_counter() - t
        sampler.stop()
        peak = rss_mb("VmHWM")
        export = db.session.get(Export, export_id)
        path = services.export_path(export)
        result = {
            "seconds": seconds,
            "rows": export.done_rows,
            "status": export.status.value,
            "size_mb": path.stat().st_size / 2**20,
            "baseline_mb": sampler.baseline,
            "peak_sampled_mb": sampler.peak,
            "peak_rss_mb": peak,
            "rss_at": marks,
        }
        if fmt == "csv":
            total, rows = Decimal(0), 0
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                for row in reader:
                    total += Decimal(row[4])
                    rows += 1
                    if row[3] != ACCOUNT:
                        raise AssertionError("the account is not the whole number")
            result["file_total"] = str(total)
            result["file_rows"] = rows
        path.unlink()
    return result


def _sub(*args: str) -> dict | None:
    out = subprocess.run(  # noqa: S603 - this very module, with our own arguments
        [sys.executable, "-m", "bench.bench_subsidy", *args],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        print(out.stderr[-3000:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_compute(url: str, instance: str, manager_id: int, label: str) -> tuple[bool, dict]:
    r = _sub("compute", url, instance, str(manager_id))
    if r is None:
        return report(f"{label}", 0, "", "finishes", False), {}
    ok = report(
        f"{label}: {r['households']:,} households",
        r["seconds"],
        "s",
        "<= 10 s",
        r["seconds"] <= 10,
    )
    growth = r["peak_rss_mb"] - r["baseline_mb"]
    ok &= report("  peak memory (RSS over the start)", growth, "MB", "<= 100 MB", growth <= 100)
    print(
        f"         the portal loaded, before: {r['baseline_mb']:.0f} MB; "
        f"whole process peak {r['peak_rss_mb']:.0f} MB"
    )
    return ok, r


def bench_export(url: str, instance: str, owner_id: int, run: dict, fmt: str) -> bool:
    r = _sub("export", url, instance, str(owner_id), str(run["run_id"]), fmt)
    label = {"csv": "CSV", "xlsx": "XLSX"}[fmt]
    if r is None:
        return report(f"bank file to {label}", 0, "", "finishes", False)
    ok = r["status"] == "done" and r["rows"] == run["households"]
    report(f"bank file, {r['rows']:,} rows to {label}", r["seconds"], "s", "(no target)", ok)
    growth = r["peak_rss_mb"] - r["baseline_mb"]
    ok &= report(
        "  peak memory of the export (RSS over the start)", growth, "MB", "<= 100 MB", growth <= 100
    )
    marks = {int(k): v for k, v in r["rss_at"].items()}
    if marks:
        first, last = marks[min(marks)], marks[max(marks)]
        ok &= report(
            "  RSS growth from the first to the last quarter",
            last - first,
            "MB",
            "<= 20 MB (flat)",
            last - first <= 20,
        )
        shown = ", ".join(f"{k:,}: {v:.0f} MB" for k, v in sorted(marks.items()))
        print(f"         RSS as rows are written: {shown}")
    if "file_total" in r:
        same = Decimal(r["file_total"]) == Decimal(run["to_bank"])
        ok &= report(
            f"  file total {r['file_total']} = to the banks {run['to_bank']}",
            float(r["file_rows"]),
            "rows",
            "equal to the fen",
            same and r["file_rows"] == run["households"],
        )
    print(f"         file: {r['size_mb']:.0f} MB")
    return ok


def main() -> int:
    print(f"Rental subsidy run ({SIZE:,} households)")
    ok = True
    with tempfile.TemporaryDirectory() as tmp, bench_database(tmp, "subsidy") as url:
        print(f"  database: {database_label(url)}")
        app = bench_app(url, tmp)
        with app.app_context():
            from flask_migrate import upgrade

            from portal.extensions import db

            upgrade()
            t = time.perf_counter()
            first_id, second_id = populate(SIZE)
            took = time.perf_counter() - t
            print(f"         {SIZE:,} awards and their facts written in {took:.1f} s")
            db.engine.dispose()
        good, run = bench_compute(url, tmp, first_id, "compute the month")
        ok &= good
        if not run:
            return 1
        good, again = bench_compute(url, tmp, first_id, "compute it again (unchanged)")
        ok &= good
        ok &= report(
            "  computed again: the same checksum and total",
            float(again.get("households", 0)),
            "lines",
            "identical",
            again.get("checksum") == run["checksum"]
            and again.get("total") == run["total"]
            and again.get("unchanged") is True,
        )
        t = time.perf_counter()
        count, total = independent_sum(SIZE)
        same = total == Decimal(run["total"]) and count == run["households"]
        ok &= report(
            f"total {run['total']} yuan = independent sum {total}",
            time.perf_counter() - t,
            "s",
            "equal to the fen",
            same,
        )
        print(f"         households: run {run['households']:,}, independent {count:,}")
        with app.app_context():
            from portal.accounts.models import User
            from portal.extensions import db
            from portal.subsidy import services

            with app.test_request_context():
                closed = services.close_run(
                    db.session.get(services.SubsidyRun, run["run_id"]),
                    db.session.get(User, second_id),
                )
                db.session.commit()
                print(f"         closed by another manager: {closed.status.value}")
            db.engine.dispose()
        ok &= bench_export(url, tmp, second_id, run, "csv")
        ok &= bench_export(url, tmp, second_id, run, "xlsx")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "compute":
        _, _, url, instance, manager = sys.argv
        print(json.dumps(run_compute(url, instance, int(manager))))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "export":
        _, _, url, instance, owner, run_id, fmt = sys.argv
        print(json.dumps(run_export(url, instance, int(owner), int(run_id), fmt)))
        sys.exit(0)
    sys.exit(main())

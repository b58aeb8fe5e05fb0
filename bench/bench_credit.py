"""Joint-punishment list benchmarks (issue 6).

- Export of a 1,000,000-record joint list through the exports module's job: CSV ≤ 20 s and
  ≤ 100 MB; XLSX ≤ 150 s and ≤ 150 MB, memory flat as rows grow (shown at each quarter).
  JSON Lines is measured too (no target).
- Incremental pull of 10,000 changes from 1,000,000: ≤ 1 s, through the service and
  through the HTTP endpoint (signed response) with the test client.

Memory is measured on a process that does nothing but the export: each export runs in a
fresh Python process (``python -m bench.bench_credit export …``), which samples its resident
set size (RSS) every 50 ms and reads its high-water mark (``VmHWM``) at the end. The figure
held against the target is the peak RSS over the RSS just before the export started (the
portal itself, loaded, takes about 100 MB in any worker); the process's whole peak is shown
beside it, and the RSS after each quarter of the rows shows that memory stays flat.

The records are written straight into the database in a few ``INSERT … SELECT`` statements
(all serious, so every record is on the joint list; one person or organisation each). Persons
share one encrypted ID number, which is still decrypted and masked row by row in the export.

``BENCH_CREDIT_SIZE`` scales the list down (default 1,000,000); SQLite by default,
``BENCH_DATABASE_URL`` for PostgreSQL.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta

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

SIZE = int(os.environ.get("BENCH_CREDIT_SIZE", "1000000"))
PULL = 10_000
SERIOUS = ("V-SUBLET", "V-FALSE-PLEDGE", "V-ILLEGAL-USE", "V-REFUSE-VACATE")
PERSON_ID = "450302199001011234"


def populate(n: int) -> int:
    """The catalogue, a manager, ``n`` records in force (ids 1 … n) and ``n`` changes.
    Returns the manager's id."""
    from portal.accounts.roles import Role
    from portal.core.clock import today
    from portal.core.crypto import protector
    from portal.core.identifiers import make_credit_code
    from portal.credit import lists
    from portal.credit.models import Grade, RecordStatus, SubjectKind
    from portal.extensions import db
    from tests.factories import StaffFactory
    from tests.factories.credit import violation_type

    types = [violation_type(code) for code in SERIOUS]
    manager = StaffFactory(role=Role.MANAGER)
    db.session.commit()
    conn = db.session.connection()
    dialect = conn.dialect.name
    prefix, source = row_series(dialect, n)
    day = today()
    if dialect == "postgresql":
        ref = "'CR' || lpad(i::text, 10, '0')"
        index = "lpad(to_hex(i), 64, '0')"
        name = "'测试' || i::text"

        def days(offset: str) -> str:
            return f"(DATE '{day.isoformat()}' + ({offset})::int)"

        now = "now()"
    else:
        ref = "'CR' || printf('%010d', i)"
        index = "printf('%064x', i)"
        name = "'测试' || i"

        def days(offset: str) -> str:
            return f"date('{day.isoformat()}', ({offset}) || ' days')"

        now = f"'{day.isoformat()} 00:00:00.000000'"
    org = "i % 7 = 0"
    type_id = "CASE i % 4 " + " ".join(f"WHEN {k} THEN {t.id}" for k, t in enumerate(types))
    type_id += " END"
    conn.execute(
        sa.text(
            f"""{prefix}
            INSERT INTO credit_records (
                id, reference, subject_kind, subject_index, subject_id_number, subject_code,
                subject_name, violation_type_id, grade, points, facts, occurred_on, source,
                status, flagged_at, starts_on, publish_until, ban_until, repair_from,
                object_by, updated_at)
            SELECT i, {ref},
                CASE WHEN {org} THEN 'organisation' ELSE 'person' END,
                {index},
                CASE WHEN {org} THEN NULL ELSE :blob END,
                CASE WHEN {org} THEN :code ELSE NULL END,
                {name}, {type_id}, 'serious', 30, '事实', {days("-(i % 300) - 30")}, 'manual',
                'active', {now}, {days("-(i % 300)")}, {days("400 - (i % 300)")},
                {days("1500 - (i % 300)")}, {days("65 - (i % 300)")}, {days("21 - (i % 300)")},
                {now}
            {source}"""
        ),
        {
            "blob": protector().encrypt(PERSON_ID, "credit_records.subject_id_number"),
            "code": make_credit_code("91450300MA5L12345"),
        },
    )
    # one change per record: the allow-listed payload of a real record, its reference varied
    template = lists._compact(
        dict(
            zip(
                lists.SCHEMA,
                lists._values(
                    "@REF@",
                    SubjectKind.PERSON,
                    "测试人",
                    PERSON_ID,
                    None,
                    lists._type_fields(types[0]),
                    Grade.SERIOUS,
                    day,
                    day + timedelta(days=400),
                    day + timedelta(days=1500),
                    RecordStatus.ACTIVE,
                ),
                strict=True,
            )
        )
    )
    conn.execute(
        sa.text(
            f"""{prefix}
            INSERT INTO credit_changes (id, record_id, action, at, payload_json)
            SELECT i, i, 'listed', {now}, replace(:template, '@REF@', {ref})
            {source}"""
        ),
        {"template": template},
    )
    if dialect == "postgresql":
        catch_up_sequences(conn, ("credit_records", "credit_changes"))
    db.session.commit()
    if dialect == "postgresql":
        # as a list that has been there a while: vacuumed (hint bits set, visibility map
        # made), so the first export does not pay for the bulk load
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE credit_records"))
            c.execute(sa.text("VACUUM ANALYZE credit_changes"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    return manager.id


def run_export(url: str, instance: str, owner_id: int, kind: str, fmt: str) -> dict:
    """In this (fresh) process: one export through the exports module's job."""
    from portal.credit import lists
    from portal.exports import services
    from portal.exports.models import Export, ExportStatus
    from portal.extensions import db

    app = bench_app(url, instance)
    marks: dict[int, float] = {}
    quarter = max(1, SIZE // 4)
    count = [0]
    inner = lists._row_values

    def counting(*args):
        count[0] += 1
        if count[0] % quarter == 0:
            marks[count[0]] = rss_mb()
        return inner(*args)

    lists._row_values = counting
    with app.app_context():
        export = Export(
            owner_id=owner_id,
            kind=kind,
            format=fmt,
            params_json=json.dumps({"on": _today(), "locale": "zh_Hans_CN"}),
            status=ExportStatus.QUEUED,
        )
        db.session.add(export)
        db.session.commit()
        export_id = export.id
        db.session.expire_all()
        baseline = rss_mb()
        peak = [baseline]
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t = time.perf_counter()
        services.build_export(export_id)
        seconds = time.perf_counter() - t
        done.set()
        sampler.join()
        export = db.session.get(Export, export_id)
        path = services.export_path(export)
        result = {
            "seconds": seconds,
            "rows": export.done_rows,
            "status": export.status.value,
            "size_mb": path.stat().st_size / 2**20,
            "baseline_mb": baseline,
            "peak_sampled_mb": peak[0],
            "peak_rss_mb": rss_mb("VmHWM"),
            "rss_at": marks,
        }
        if fmt == "xlsx":
            import zipfile

            with zipfile.ZipFile(path) as book:
                result["sheets"] = sum(
                    1 for n in book.namelist() if n.startswith("xl/worksheets/sheet")
                )
        path.unlink()
    return result


def _today() -> str:
    from portal.core.clock import today

    return today().isoformat()


def bench_export(url: str, instance: str, owner_id: int, fmt: str, seconds_max, mb_max) -> bool:
    out = subprocess.run(  # noqa: S603 - this very module, with our own arguments
        [
            sys.executable,
            "-m",
            "bench.bench_credit",
            "export",
            url,
            instance,
            str(owner_id),
            "credit_joint_list",
            fmt,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        print(out.stderr[-3000:])
        return report(f"export to {fmt}", 0, "", "finishes", False)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    label = {"csv": "CSV", "xlsx": "XLSX", "jsonl": "JSON Lines"}[fmt]
    rows = f"{r['rows']:,}"
    ok = r["status"] == "done" and r["rows"] == SIZE
    if seconds_max is None:
        report(f"export {rows} rows to {label}", r["seconds"], "s", "(no target)", ok)
        report("  peak RSS of the export process", r["peak_rss_mb"], "MB", "(no target)", ok)
        return ok
    ok &= report(
        f"export {rows} rows to {label}",
        r["seconds"],
        "s",
        f"<= {seconds_max} s",
        ok and r["seconds"] <= seconds_max,
    )
    growth = r["peak_rss_mb"] - r["baseline_mb"]
    ok &= report(
        "  peak memory of the export (RSS over the start)",
        growth,
        "MB",
        f"<= {mb_max} MB",
        growth <= mb_max,
    )
    report("  peak RSS of the whole process", r["peak_rss_mb"], "MB", "(information)", True)
    print(f"         the portal loaded, before the export: {r['baseline_mb']:.0f} MB")
    marks = {int(k): v for k, v in r["rss_at"].items()}
    if marks:
        first, last = marks[min(marks)], marks[max(marks)]
        flat = last - first <= 20
        shown = ", ".join(f"{k:,}: {v:.0f} MB" for k, v in sorted(marks.items()))
        ok &= report(
            "  RSS growth from the first to the last quarter",
            last - first,
            "MB",
            "<= 20 MB (flat)",
            flat,
        )
        print(f"         RSS as rows are written: {shown}")
    if "sheets" in r:
        print(f"         sheets: {r['sheets']} (Excel's limit is 1,048,576 rows with the header)")
    print(f"         file: {r['size_mb']:.0f} MB")
    return ok


def bench_pull(app) -> bool:
    from portal.api.auth import create_client
    from portal.core.identifiers import make_credit_code
    from portal.credit import lists, signing
    from portal.extensions import db

    ok = True
    cursor = max(0, SIZE // 2 - PULL)
    with app.app_context():
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            pulled = lists.pull_changes(None, cursor, PULL)
            samples.append(time.perf_counter() - t)
            db.session.rollback()
        expected = min(PULL, SIZE - cursor)
        seconds = statistics.median(samples)
        ok &= report(
            f"pull {expected:,} changes from {SIZE:,} (service)",
            seconds,
            "s",
            "<= 1 s",
            pulled.count == expected and seconds <= 1,
        )
        new = create_client(
            None,
            name="公共信用信息平台",
            credit_code=make_credit_code("11450000MB0000000"),
            scopes=["credit.read"],
        )
        client_id, secret = new.client.client_id, new.secret
        db.session.commit()
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/client-token",
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
        },
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/credit/changes?cursor={cursor}&limit={PULL}"
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        resp = client.get(url, headers=headers)
        samples.append(time.perf_counter() - t)
    seconds = statistics.median(samples)
    with app.app_context():
        pem = signing.public_key_pem()
    valid = resp.status_code == 200 and signing.verify(
        resp.get_data(), resp.headers[signing.SIGNATURE_HEADER], pem
    )
    count = len(resp.get_json()["changes"]) if resp.status_code == 200 else 0
    ok &= report(
        f"pull {count:,} changes over HTTP, signed",
        seconds,
        "s",
        "<= 1 s",
        valid and count == min(PULL, SIZE - cursor) and seconds <= 1,
    )
    print(f"         body {len(resp.get_data()) / 2**20:.1f} MB, signature verifies: {valid}")
    return ok


def main() -> int:
    print(f"Credit lists ({SIZE:,} records)")
    ok = True
    with tempfile.TemporaryDirectory() as tmp, bench_database(tmp, "credit") as url:
        print(f"  database: {database_label(url)}")
        app = bench_app(url, tmp)
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            t = time.perf_counter()
            owner_id = populate(SIZE)
            print(
                f"         {SIZE:,} records and changes written in {time.perf_counter() - t:.1f} s"
            )
        ok &= bench_pull(app)
        with app.app_context():
            from portal.extensions import db

            db.engine.dispose()  # the export processes use their own connections
        ok &= bench_export(url, tmp, owner_id, "csv", 20, 100)
        ok &= bench_export(url, tmp, owner_id, "xlsx", 150, 150)
        ok &= bench_export(url, tmp, owner_id, "jsonl", None, None)
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "export":
        _, _, url, instance, owner, kind, fmt = sys.argv
        print(json.dumps(run_export(url, instance, int(owner), kind, fmt)))
        sys.exit(0)
    sys.exit(main())

"""Backup and restore (SECURITY.md F3): back up, wipe, restore, and find the same data, the
same files and a valid audit chain, on SQLite and PostgreSQL and from one to the other.

Every test commits for real, on fresh databases of its own (a SQLite file, or a PostgreSQL
database when ``TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.datastructures import FileStorage

from portal import create_app
from portal.accounts.roles import Role
from portal.accounts.services import register_resident
from portal.applications import services
from portal.backup import create_backup, encode_value
from portal.config import TestConfig
from portal.core import audit
from portal.core.identifiers import make_id_number
from portal.extensions import db, limiter
from tests.conftest import PortalClient, _drop_postgres, _postgres_url
from tests.factories.applications import draft_for, submit
from tests.factories.fixtures import make_staff, sign_in
from tests.factories.registry import local_household

pytestmark = pytest.mark.no_transaction

BASE = os.environ.get("TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(not BASE, reason="needs TEST_DATABASE_URL")
PASSWORD = "Lijiang-Karst-Osmanthus-77"
ID_NUMBER = make_id_number("450302", date(1986, 3, 14), 123)
MOBILE = "13907730123"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


# ------------------------------------------------------------------------------ harness


class Databases:
    """Fresh, empty databases for one test; dropped at its end."""

    def __init__(self, tmp_path: Path, worker_id: str) -> None:
        self.tmp_path, self.worker_id, self.made = tmp_path, worker_id, []

    def url(self, name: str, kind: str | None = None) -> str:
        kind = kind or ("postgres" if BASE else "sqlite")
        if kind == "sqlite":
            return f"sqlite:///{self.tmp_path / f'{name}.db'}"
        url = _postgres_url(BASE, f"bk_{self.worker_id}_{name}")
        self.made.append(url)
        return url

    def wipe(self, app, url: str) -> None:
        """Lose the database and the uploaded files: what a restore starts from."""
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if url.startswith("sqlite"):
            path = Path(sa.make_url(url).database)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            _drop_postgres(BASE, url)
            suffix = sa.make_url(url).database.rsplit(f"bk_{self.worker_id}_", 1)[1]
            assert _postgres_url(BASE, f"bk_{self.worker_id}_{suffix}") == url
        shutil.rmtree(Path(app.instance_path) / "uploads", ignore_errors=True)


@pytest.fixture
def databases(tmp_path, worker_id):
    dbs = Databases(tmp_path, worker_id)
    apps = []
    dbs.apps = apps
    yield dbs
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    for url in dbs.made:
        _drop_postgres(BASE, url)


def make_app(databases, url: str, instance: str, *, migrate: bool = True):
    """An application on ``url``; every one shares TestConfig's keys, as a restored machine
    must share the original's."""
    app = create_app(
        TestConfig,
        instance_path=str(databases.tmp_path / instance),
        SQLALCHEMY_DATABASE_URI=url,
    )
    app.test_client_class = PortalClient
    databases.apps.append(app)
    if migrate:
        with app.app_context():
            upgrade()
    return app


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def populate(app) -> dict:
    """A resident who registered, applied (checked by the departments), was asked for a
    document by the officer and uploaded it; committed. Returns the ids a test needs."""
    from tests.factories import DistrictFactory

    with app.test_request_context():
        district = DistrictFactory(code="450302")
        resident = register_resident(
            real_name="张伟", id_number=ID_NUMBER, mobile=MOBILE, password=PASSWORD
        )
        local_household(("张伟", ID_NUMBER))
        application = submit(draft_for(resident, district), resident)
        officer = make_staff(Role.OFFICER, districts=[district])
        req = services.request_supplement(
            application, officer, document="户口簿", reason="核对户籍信息"
        )
        upload = services.answer_supplement(
            req, resident, FileStorage(io.BytesIO(PDF), filename="hukou.pdf")
        )
        db.session.commit()
        return {
            "application": application.id,
            "reference": application.reference,
            "upload": upload.id,
            "storage_name": upload.storage_name,
        }


def raw_rows(app) -> dict[str, list[tuple]]:
    """Every row of every table exactly as stored, read without the models' types."""
    with app.app_context(), db.engine.connect() as conn:
        md = sa.MetaData()
        md.reflect(bind=conn)
        return {
            t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))]
            for t in md.sorted_tables
        }


def portable(rows: dict[str, list[tuple]]) -> dict[str, list]:
    """The rows as the archive writes them, timestamps in UTC (naive SQLite ones are UTC)."""

    def value(v):
        if isinstance(v, datetime) and v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return encode_value(v)

    return {
        name: [[value(v) for v in row] for row in table]
        for name, table in rows.items()
        if name != "alembic_version"
    }


def signed_in(app):
    with app.app_context():
        limiter.reset()
    client = app.test_client()
    resp = sign_in(client, MOBILE, PASSWORD)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def verify(app):
    with app.app_context():
        return audit.verify()


def count(app, table: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))


def archive_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def rewrite(path: Path, change) -> None:
    """Write the archive again with ``change(members)`` applied (a tampering hand)."""
    members = archive_members(path)
    change(members)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def uploaded_files(app) -> list[str]:
    folder = Path(app.instance_path) / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------------------ tests


def test_backup_wipe_restore_gives_the_same_data_files_and_chain(databases, tmp_path):
    url = databases.url("main")
    app = make_app(databases, url, "inst")
    ids = populate(app)
    client = signed_in(app)  # a session that is open when the backup is made
    assert client.get("/applications").status_code == 200
    before = raw_rows(app)
    archive = tmp_path / "portal.tar.gz"

    made = run(app, "portal", "backup", "--output", str(archive))
    assert made.exit_code == 0, made.output
    assert "backup written" in made.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    members = archive_members(archive)
    manifest = json.loads(members["manifest.json"])
    assert manifest["alembic_revisions"] == [r[0] for r in before["alembic_version"]]
    by_name = {t["name"]: t for t in manifest["tables"]}
    for name, rows in before.items():
        if name == "alembic_version":
            continue
        data = members[by_name[name]["file"]]
        assert by_name[name]["rows"] == len(rows)
        assert by_name[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert members[f"uploads/{ids['storage_name']}"] == PDF
    assert not any("key" in name for name in members)
    everything = b"".join(members.values())
    for secret in (ID_NUMBER, MOBILE, TestConfig.DATA_KEY, TestConfig.SECRET_KEY):
        assert secret.encode() not in everything  # ciphertext only, and never the keys

    databases.wipe(app, url)
    assert uploaded_files(app) == []
    assert run(app, "db", "upgrade").exit_code == 0
    assert count(app, "users") == 0

    done = run(app, "portal", "restore", str(archive))
    assert done.exit_code == 0, done.output
    assert "audit chain intact" in done.output
    after = raw_rows(app)

    assert set(after) == set(before)
    for name in before:
        if name in ("audit_events", "user_sessions"):
            continue
        assert after[name] == before[name], name
    assert after["audit_events"][:-1] == before["audit_events"]
    with app.app_context():
        last = db.session.scalars(
            sa.select(audit.AuditEvent).order_by(audit.AuditEvent.id.desc())
        ).first()
        assert last.event == "backup.restored"
        assert (
            last.details_dict["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
        )
    # the session open at backup time comes back ended; nothing else about it changes
    assert len(after["user_sessions"]) == len(before["user_sessions"]) == 1
    assert after["user_sessions"][0][:-2] == before["user_sessions"][0][:-2]
    assert client.get("/applications").status_code == 302

    result = verify(app)
    assert result.ok
    assert result.checked == len(before["audit_events"]) + 1
    checked = run(app, "portal", "audit", "verify")
    assert checked.exit_code == 0
    assert "audit chain intact" in checked.output

    # the resident signs in with the same password and finds the application and the file
    client = signed_in(app)
    page = client.get(f"/applications/{ids['application']}").get_data(as_text=True)
    assert ids["reference"] in page
    download = client.get(f"/uploads/{ids['upload']}")
    assert download.status_code == 200
    assert download.data == PDF
    assert verify(app).ok  # new events chain on after the restored ones


def test_restore_refuses_a_database_with_data_unless_told_to_wipe_it(databases, tmp_path):
    app = make_app(databases, databases.url("busy"), "inst")
    populate(app)
    archive = tmp_path / "b.tar.gz"
    assert run(app, "portal", "backup", "-o", str(archive)).exit_code == 0
    with app.test_request_context():
        register_resident(
            real_name="李梅",
            id_number=make_id_number("450302", date(1990, 6, 1), 77),
            mobile="13907730777",
            password=PASSWORD,
        )
        db.session.commit()
    residents = count(app, "users")

    refused = run(app, "portal", "restore", str(archive))
    assert refused.exit_code == 1
    assert "not empty" in refused.output
    assert "--yes" in refused.output
    assert count(app, "users") == residents  # nothing changed

    done = run(app, "portal", "restore", "--yes", str(archive))
    assert done.exit_code == 0, done.output
    assert "deleted the data" in done.output
    assert count(app, "users") == residents - 1  # back to the moment of the backup
    assert verify(app).ok
    # the append-only guard is back after the wipe
    with app.app_context(), pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("UPDATE audit_events SET result = 'x'"))
    with app.app_context(), pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("DELETE FROM audit_events"))
    signed_in(app)


def test_a_tampered_archive_restores_nothing(databases, tmp_path):
    source = make_app(databases, databases.url("src"), "src")
    populate(source)
    archive = tmp_path / "t.tar.gz"
    assert run(source, "portal", "backup", "-o", str(archive)).exit_code == 0

    def flip_one_byte(members):
        data = bytearray(members["tables/users.jsonl"])
        i = data.index(b"\xe5")  # inside 张伟's name
        data[i + 1] ^= 0x01
        members["tables/users.jsonl"] = bytes(data)

    rewrite(archive, flip_one_byte)
    target = make_app(databases, databases.url("dst"), "dst")
    refused = run(target, "portal", "restore", str(archive))
    assert refused.exit_code == 1
    assert "tables/users.jsonl does not match the manifest" in refused.output
    assert count(target, "users") == 0
    assert count(target, "audit_events") == 0
    assert uploaded_files(target) == []


def test_an_altered_upload_restores_nothing(databases, tmp_path):
    source = make_app(databases, databases.url("src"), "src")
    ids = populate(source)
    archive = tmp_path / "u.tar.gz"
    assert run(source, "portal", "backup", "-o", str(archive)).exit_code == 0
    name = f"uploads/{ids['storage_name']}"
    rewrite(archive, lambda m: m.__setitem__(name, m[name].replace(b"EOF", b"EOG")))
    target = make_app(databases, databases.url("dst"), "dst")
    refused = run(target, "portal", "restore", str(archive))
    assert refused.exit_code == 1
    assert f"{name} does not match" in refused.output
    assert count(target, "users") == 0
    assert uploaded_files(target) == []


def test_an_archive_whose_audit_chain_is_broken_restores_nothing(databases, tmp_path):
    """The manifest is made to match, but one audit event was changed: the restore notices
    through the chain, rolls everything back and says which event."""
    source = make_app(databases, databases.url("src"), "src")
    populate(source)
    archive = tmp_path / "c.tar.gz"
    assert run(source, "portal", "backup", "-o", str(archive)).exit_code == 0

    def rewrite_history(members):
        lines = members["tables/audit_events.jsonl"].splitlines(keepends=True)
        row = json.loads(lines[1])
        row["result"] = "failure"
        lines[1] = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        members["tables/audit_events.jsonl"] = b"".join(lines)
        manifest = json.loads(members["manifest.json"])
        for t in manifest["tables"]:
            if t["name"] == "audit_events":
                t["sha256"] = hashlib.sha256(members["tables/audit_events.jsonl"]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
        return row["id"]

    altered = {}
    rewrite(archive, lambda m: altered.setdefault("id", rewrite_history(m)))
    target = make_app(databases, databases.url("dst"), "dst")
    refused = run(target, "portal", "restore", str(archive))
    assert refused.exit_code == 1
    assert f"audit chain broken at event {altered['id']}" in refused.output
    assert "Nothing was restored" in refused.output
    assert count(target, "users") == 0
    assert uploaded_files(target) == []

    # for an investigation the data can still be brought back, and the command still fails
    kept = run(target, "portal", "restore", "--allow-broken-chain", str(archive))
    assert kept.exit_code == 1
    assert count(target, "users") > 0
    with target.app_context():
        last = db.session.scalars(
            sa.select(audit.AuditEvent).order_by(audit.AuditEvent.id.desc())
        ).first()
        assert (last.event, last.result) == ("backup.restored", "failure")


def test_an_incomplete_archive_is_refused(databases, tmp_path):
    source = make_app(databases, databases.url("src"), "src")
    populate(source)
    archive = tmp_path / "i.tar.gz"
    assert run(source, "portal", "backup", "-o", str(archive)).exit_code == 0
    rewrite(archive, lambda m: m.pop("manifest.json"))
    target = make_app(databases, databases.url("dst"), "dst")
    refused = run(target, "portal", "restore", str(archive))
    assert refused.exit_code == 1
    assert "no manifest.json" in refused.output
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    refused = run(target, "portal", "restore", str(truncated))
    assert refused.exit_code == 1
    # the gzip stream breaks off, or the manifest (written last) is missing: refused either way
    assert "cannot read the archive" in refused.output or "no manifest.json" in refused.output
    assert count(target, "users") == 0


def test_restore_needs_the_archives_schema_revision(databases, tmp_path):
    source = make_app(databases, databases.url("src"), "src")
    populate(source)
    archive = tmp_path / "r.tar.gz"
    assert run(source, "portal", "backup", "-o", str(archive)).exit_code == 0
    rewrite(
        archive,
        lambda m: m.__setitem__(
            "manifest.json",
            json.dumps(
                {**json.loads(m["manifest.json"]), "alembic_revisions": ["0123abcd"]}
            ).encode(),
        ),
    )
    target = make_app(databases, databases.url("dst"), "dst")
    refused = run(target, "portal", "restore", str(archive))
    assert refused.exit_code == 1
    assert "revision 0123abcd" in refused.output
    assert count(target, "users") == 0


def test_the_default_archive_goes_to_instance_backups(databases):
    app = make_app(databases, databases.url("main"), "inst")
    populate(app)
    made = run(app, "portal", "backup")
    assert made.exit_code == 0, made.output
    [archive] = (Path(app.instance_path) / "backups").glob("portal-*.tar.gz")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700
    assert not list(archive.parent.glob(".*"))  # no staging files left behind
    with app.app_context():
        event = db.session.scalars(
            sa.select(audit.AuditEvent).where(audit.AuditEvent.event == "backup.created")
        ).one()
        assert (
            event.details_dict["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
        )
    assert verify(app).ok


def test_a_missing_upload_is_reported_and_the_rest_backed_up(databases, tmp_path):
    app = make_app(databases, databases.url("main"), "inst")
    ids = populate(app)
    (Path(app.instance_path) / "uploads" / ids["storage_name"]).unlink()
    archive = tmp_path / "m.tar.gz"
    made = run(app, "portal", "backup", "-o", str(archive))
    assert made.exit_code == 1  # cron and monitoring notice
    assert f"missing: {ids['storage_name']}" in made.output
    members = archive_members(archive)  # the archive is written all the same
    assert json.loads(members["manifest.json"])["uploads"]["count"] == 0
    with app.app_context():
        event = db.session.scalars(
            sa.select(audit.AuditEvent).where(audit.AuditEvent.event == "backup.created")
        ).one()
        assert event.result == "failure"
        assert event.details_dict["problems"] == 1


class ObjectStore:
    """An S3-like store in memory: no folder to scan, only names the portal made."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def save(self, name: str, data: bytes) -> None:
        self.objects[name] = data

    def open(self, name: str):
        if name not in self.objects:
            raise FileNotFoundError(name)
        return io.BytesIO(self.objects[name])

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)

    def exists(self, name: str) -> bool:
        return name in self.objects


def test_uploads_in_an_object_store_are_backed_up_and_restored(databases, tmp_path, monkeypatch):
    from flask import current_app

    from portal.core import storage, uploads

    stores: dict[str, ObjectStore] = {}

    def get_storage(app=None):
        app = app or current_app
        return stores.setdefault(app.instance_path, ObjectStore())

    monkeypatch.setattr(storage, "get_storage", get_storage)
    monkeypatch.setattr(uploads, "get_storage", get_storage)
    source = make_app(databases, databases.url("src"), "src")
    ids = populate(source)
    archive = tmp_path / "s3.tar.gz"
    assert run(source, "portal", "backup", "-o", str(archive)).exit_code == 0
    assert archive_members(archive)[f"uploads/{ids['storage_name']}"] == PDF

    target = make_app(databases, databases.url("dst"), "dst")
    done = run(target, "portal", "restore", str(archive))
    assert done.exit_code == 0, done.output
    assert stores[target.instance_path].objects == {ids["storage_name"]: PDF}
    assert signed_in(target).get(f"/uploads/{ids['upload']}").data == PDF


DIRECTIONS = [
    pytest.param("sqlite", "postgres", marks=needs_postgres, id="sqlite-to-postgres"),
    pytest.param("postgres", "sqlite", marks=needs_postgres, id="postgres-to-sqlite"),
    pytest.param("sqlite", "sqlite", id="sqlite-to-new-machine"),
]


@pytest.mark.parametrize(("source_kind", "target_kind"), DIRECTIONS)
def test_an_archive_moves_to_another_database_and_machine(
    databases, tmp_path, source_kind, target_kind
):
    source = make_app(databases, databases.url("src", source_kind), "old-machine")
    ids = populate(source)
    before = raw_rows(source)
    archive = tmp_path / "move.tar.gz"
    assert run(source, "portal", "backup", "-o", str(archive)).exit_code == 0

    # a new machine: its own instance folder, an empty database without tables, same keys
    target = make_app(databases, databases.url("dst", target_kind), "new-machine", migrate=False)
    done = run(target, "portal", "restore", str(archive))
    assert done.exit_code == 0, done.output
    assert "created the schema" in done.output
    after = raw_rows(target)
    want, got = portable(before), portable(after)
    assert set(got) == set(want)
    for name in want:
        rows = got[name][:-1] if name == "audit_events" else got[name]
        assert rows == want[name], name
    assert verify(target).ok

    client = signed_in(target)
    assert ids["reference"] in client.get(f"/applications/{ids['application']}").get_data(
        as_text=True
    )
    assert client.get(f"/uploads/{ids['upload']}").data == PDF
    assert verify(target).ok


def test_rows_are_read_and_written_in_batches(databases, tmp_path):
    """A few thousand audit events go through in pages of ``batch`` rows, never all at once."""
    app = make_app(databases, databases.url("big"), "inst")
    populate(app)
    with app.test_request_context():
        for i in range(3000):
            audit.record("test.bulk", actor="cli", n=i)
        db.session.commit()
    events = count(app, "audit_events")
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "audit_events" in statement:
            statements.append(statement.split()[0].upper())

    sa.event.listen(sa.Engine, "before_cursor_execute", seen)
    try:
        with app.app_context():
            result = create_backup(tmp_path / "big.tar.gz", batch=500)
        reads = statements.count("SELECT")
        statements.clear()
        assert result.rows >= events
        assert reads >= events // 500

        target = make_app(databases, databases.url("big2"), "inst2")
        with target.app_context():
            from portal.backup import restore_backup

            restored = restore_backup(tmp_path / "big.tar.gz", batch=500)
            db.session.commit()
        writes = statements.count("INSERT")
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", seen)
    assert restored.chain_ok
    assert writes >= events // 500
    assert count(target, "audit_events") == events + 1
    assert verify(target).ok
    # and the archive really holds every event, one line each
    with tarfile.open(tmp_path / "big.tar.gz", "r:gz") as tar:
        data = tar.extractfile("tables/audit_events.jsonl").read()
    assert data.count(b"\n") == events

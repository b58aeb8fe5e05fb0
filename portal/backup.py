"""Backup and restore of the database and the uploaded files (SECURITY.md F3).

``flask portal backup`` writes one portable ``tar.gz`` archive:

- ``tables/<table>.jsonl``: every row of every table, one JSON object a line, read in
  keyset-paginated batches (by primary key) inside one read-only snapshot. Values are taken
  exactly as stored, through the *reflected* table (plain SQL types, never the models'
  TypeDecorators): encrypted columns stay ciphertext, so no key is needed to back up and no
  decrypted personal data ever lands in the archive. Bytes are written as
  ``{"$b64": "..."}``, dates and times as ISO strings (timestamps in UTC), decimals as strings.
- ``uploads/<storage name>``: every document a row of ``uploads`` names, read from the
  storage backend (local folder or S3) after the snapshot and checked against the hash
  recorded at upload, and ``uploads.jsonl``, their index (name, size, SHA-256).
- ``manifest.json``, written last: format, creation time, the database's Alembic revision and
  dialect, and per table its file, columns, row count and SHA-256. An archive without it is
  incomplete.

The keys (``instance/secret_key``, ``instance/data_key``, ``instance/credit_signing_key.pem``
or the ``PORTAL_*`` variables) are
never in the archive; docs/backup.md says how to keep them.

``flask portal restore`` checks every file of the archive against the manifest before it
writes anything, requires the database to be at the archive's revision (it creates the schema
itself in a database without tables), refuses a database that holds data unless ``--yes``
wipes it, inserts the rows in foreign-key order in batches, resets the PostgreSQL sequences,
ends the sessions and API tokens the archive brings back, copies the uploads, verifies the
audit chain and records ``backup.restored``, all in one transaction.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from portal.extensions import db

FORMAT = "portal-backup"
FORMAT_VERSION = 1
BATCH = 1000
MANIFEST = "manifest.json"
UPLOAD_INDEX = "uploads.jsonl"
VERSION_TABLE = "alembic_version"
UPLOAD_TABLE, UPLOAD_COLUMN = "uploads", "storage_name"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for the operator."""


@dataclass
class BackupResult:
    path: Path
    sha256: str
    tables: int
    rows: int
    uploads: int
    problems: list[str]


@dataclass
class RestoreResult:
    tables: int
    rows: int
    uploads: int
    wiped: bool
    upgraded: bool
    audit_events: int
    chain_ok: bool
    chain_message: str
    sessions_ended: int = 0
    behind_head: bool = False


# --------------------------------------------------------------------------- values


def encode_value(value: Any) -> Any:
    """A stored value as JSON: bytes in base64 under a marker, timestamps in UTC ISO form."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, dict | list):  # JSON columns
        return value
    raise BackupError(f"cannot archive a value of type {type(value).__name__}")


def _decoder(column: sa.Column):
    """How a JSON value goes back into ``column``, by the column's type in the target database.

    Timestamps are UTC throughout the portal (``UTCDateTime``): a naive value (SQLite) is UTC,
    so it becomes aware for ``timestamptz`` and an aware one becomes naive UTC for SQLite.
    """
    kind = column.type
    if isinstance(kind, sa.LargeBinary):

        def binary(v):
            if isinstance(v, dict):
                return base64.b64decode(v["$b64"])
            raise BackupError(f"{column.table.name}.{column.name}: expected bytes")

        return binary
    if isinstance(kind, sa.DateTime):
        aware = bool(getattr(kind, "timezone", False))

        def moment(v):
            value = datetime.fromisoformat(v)
            if aware:
                return value if value.tzinfo else value.replace(tzinfo=UTC)
            return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

        return moment
    if isinstance(kind, sa.Date):
        return date.fromisoformat
    if isinstance(kind, sa.Time):
        return time.fromisoformat
    if isinstance(kind, sa.Float):
        return float
    if isinstance(kind, sa.Numeric):
        return Decimal
    return None


def decode_row(row: dict[str, Any], decoders: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        fn = decoders.get(name)
        out[name] = fn(value) if fn is not None and value is not None else value
    return out


# --------------------------------------------------------------------------- helpers


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _reflect(conn: sa.Connection) -> tuple[sa.MetaData, list[sa.Table]]:
    """The database's own tables (not the models'), in foreign-key order."""
    md = sa.MetaData()
    with warnings.catch_warnings():  # e.g. expression indexes: only columns and keys matter
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        md.reflect(bind=conn)
    tables = [t for t in md.sorted_tables if t.name != VERSION_TABLE]
    for t in tables:
        if not _TABLE_NAME.match(t.name):
            raise BackupError(f"unexpected table name {t.name!r}")
        if not t.primary_key.columns:
            raise BackupError(f"table {t.name} has no primary key")
    return md, tables


def _revisions(conn: sa.Connection) -> list[str]:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return []
    return sorted(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def _after(pk: list[sa.Column], last: tuple) -> sa.ColumnElement[bool]:
    """Rows after ``last`` in primary-key order (composite keys too, on every database)."""
    terms = []
    for i, col in enumerate(pk):
        equal = [pk[j] == last[j] for j in range(i)]
        terms.append(sa.and_(*equal, col > last[i]))
    return sa.or_(*terms)


def iter_rows(conn: sa.Connection, table: sa.Table, batch: int = BATCH) -> Iterator[dict]:
    """Every row of ``table`` as stored, ``batch`` rows per query (keyset pagination)."""
    pk = list(table.primary_key.columns)
    base = sa.select(table).order_by(*pk).limit(batch)
    last = None
    while True:
        stmt = base if last is None else base.where(_after(pk, last))
        rows = conn.execute(stmt).mappings().all()
        if not rows:
            return
        yield from rows
        if len(rows) < batch:
            return
        last = tuple(rows[-1][c.name] for c in pk)


def _storage():
    from portal.core import storage

    return storage.get_storage()


def _valid_upload_name(name: str) -> bool:
    from portal.core.storage import check_name

    try:
        check_name(name)
    except (ValueError, TypeError):
        return False
    return True


def _stored_files(table_file: Path) -> Iterator[tuple[str, str | None]]:
    """(storage name, recorded SHA-256) of every upload row of the snapshot, streamed from
    the staged table file, so the files match the rows whatever the storage backend."""
    if not table_file.exists():
        return
    with table_file.open("rb") as fh:
        for line in fh:
            row = json.loads(line)
            yield row[UPLOAD_COLUMN], row.get("sha256")


def _fetch(store, name: str, folder: Path) -> tuple[Path, int, str]:
    """Copy a stored file into ``folder`` (a local file or an S3 object alike), hashing it."""
    target = folder / "upload.part"
    digest, size = hashlib.sha256(), 0
    with store.open(name) as src, target.open("wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return target, size, digest.hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _tarinfo(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# --------------------------------------------------------------------------- backup


@contextmanager
def _snapshot() -> Iterator[sa.Connection]:
    """One read-only transaction, so every table is read at the same moment.

    PostgreSQL: REPEATABLE READ, READ ONLY. SQLite: a plain deferred BEGIN on a connection of
    its own (WAL keeps it a stable snapshot and writers are not held up; the application's
    engine would take the write lock with BEGIN IMMEDIATE).
    """
    if db.engine.dialect.name == "sqlite":
        engine = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA busy_timeout=10000")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")

        try:
            with engine.connect() as conn, conn.begin():
                yield conn
        finally:
            engine.dispose()
        return
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn


def default_backup_path() -> Path:
    from portal.core.clock import utcnow

    folder = Path(current_app.instance_path) / "backups"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"portal-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def create_backup(output: Path | None = None, *, batch: int = BATCH) -> BackupResult:
    """Write the archive (readable by its owner only); the database is only read."""
    from portal.core.clock import utcnow

    output = Path(output) if output is not None else default_backup_path()
    if output.exists():
        raise BackupError(f"{output} already exists")
    output.parent.mkdir(parents=True, exist_ok=True)
    created = utcnow()
    stage = Path(tempfile.mkdtemp(prefix=".portal-backup-", dir=output.parent))
    (stage / "tables").mkdir()
    partial = output.with_name(output.name + ".partial")
    try:
        tables_meta, total_rows = [], 0
        with _snapshot() as conn:
            dialect = conn.dialect.name
            revisions = _revisions(conn)
            if not revisions:
                raise BackupError("the database has no Alembic revision; run `flask db upgrade`")
            _, tables = _reflect(conn)
            for table in tables:
                path = stage / "tables" / f"{table.name}.jsonl"
                digest, rows = hashlib.sha256(), 0
                with path.open("wb") as fh:
                    for row in iter_rows(conn, table, batch):
                        line = _dumps({k: encode_value(v) for k, v in row.items()}) + b"\n"
                        digest.update(line)
                        fh.write(line)
                        rows += 1
                tables_meta.append(
                    {
                        "name": table.name,
                        "file": f"tables/{table.name}.jsonl",
                        "columns": [c.name for c in table.columns],
                        "rows": rows,
                        "sha256": digest.hexdigest(),
                    }
                )
                total_rows += rows
        # The files after the snapshot: a file is stored before its row commits, so every
        # upload the snapshot names is in the storage by now.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)
        with (
            os.fdopen(fd, "wb") as out,
            tarfile.open(
                fileobj=out, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT
            ) as tar,
        ):
            mtime = created.timestamp()
            for meta in tables_meta:
                path = stage / meta["file"]
                with path.open("rb") as fh:
                    tar.addfile(_tarinfo(meta["file"], path.stat().st_size, mtime), fh)
            uploads = _archive_uploads(tar, stage, mtime)
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created_at": created.isoformat(),
                "alembic_revisions": revisions,
                "dialect": dialect,
                "tables": tables_meta,
                "uploads": uploads,
                "keys_included": False,
            }
            body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            tar.addfile(_tarinfo(MANIFEST, len(body), mtime), io.BytesIO(body))
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return BackupResult(
        output,
        _sha256_file(output),
        len(tables_meta),
        total_rows,
        uploads["count"],
        uploads["problems"],
    )


def _archive_uploads(tar: tarfile.TarFile, stage: Path, mtime: float) -> dict:
    """Every file the ``uploads`` rows name, from the storage backend, into ``uploads/``,
    with an index of names, sizes and SHA-256. A file that is missing, or no longer matches
    the hash recorded at upload, is named in ``problems`` (the backup goes on)."""
    store = _storage()
    index = stage / UPLOAD_INDEX
    count, total, problems = 0, 0, []
    with index.open("wb") as idx:
        for name, recorded in _stored_files(stage / "tables" / f"{UPLOAD_TABLE}.jsonl"):
            if not _valid_upload_name(name):
                problems.append(f"not a storage name: {name!r}")
                continue
            try:
                part, size, digest = _fetch(store, name, stage)
            except FileNotFoundError:
                problems.append(f"missing: {name}")
                continue
            if recorded and digest != recorded:
                problems.append(f"differs from the SHA-256 recorded at upload: {name}")
            with part.open("rb") as fh:
                tar.addfile(_tarinfo(f"uploads/{name}", size, mtime), fh)
            part.unlink()
            idx.write(_dumps({"name": name, "size": size, "sha256": digest}) + b"\n")
            count, total = count + 1, total + size
    with index.open("rb") as fh:
        tar.addfile(_tarinfo(UPLOAD_INDEX, index.stat().st_size, mtime), fh)
    return {
        "count": count,
        "bytes": total,
        "index": UPLOAD_INDEX,
        "index_sha256": _sha256_file(index),
        "problems": problems,
    }


# --------------------------------------------------------------------------- restore


@dataclass
class Archive:
    """An archive unpacked into a private folder and checked against its manifest."""

    folder: Path
    manifest: dict
    sha256: str

    def table_file(self, name: str) -> Path:
        return self.folder / "tables" / f"{name}.jsonl"

    def upload_entries(self) -> Iterator[dict]:
        with (self.folder / UPLOAD_INDEX).open("rb") as fh:
            for line in fh:
                yield json.loads(line)


def _member_target(folder: Path, name: str) -> Path:
    """Where an archive member may go; anything else makes the archive invalid."""
    if name in (MANIFEST, UPLOAD_INDEX):
        return folder / name
    head, _, rest = name.partition("/")
    if head == "tables" and rest.endswith(".jsonl") and _TABLE_NAME.match(rest[:-6]):
        return folder / "tables" / rest
    if head == "uploads" and _valid_upload_name(rest):
        return folder / "uploads" / rest
    raise BackupError(f"unexpected member in the archive: {name!r}")


def unpack(path: Path, folder: Path) -> Archive:
    """Unpack ``path`` into ``folder`` (streamed, no member outside it) and check every file
    against the manifest. Raises ``BackupError`` on the first difference."""
    (folder / "tables").mkdir(mode=0o700)
    (folder / "uploads").mkdir(mode=0o700)
    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                if not member.isreg():
                    raise BackupError(f"unexpected member in the archive: {member.name!r}")
                if member.name in hashes:
                    raise BackupError(f"{member.name} appears twice in the archive")
                target = _member_target(folder, member.name)
                src = tar.extractfile(member)
                digest, size = hashlib.sha256(), 0
                with target.open("xb") as out:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                hashes[member.name], sizes[member.name] = digest.hexdigest(), size
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"cannot read the archive: {exc}") from exc
    if MANIFEST not in hashes:
        raise BackupError("the archive has no manifest.json: it is incomplete")
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except ValueError as exc:
        raise BackupError("manifest.json is not valid JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a portal backup archive")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"archive format {manifest.get('version')!r} is not one this can restore")
    try:
        return _check_members(path, folder, manifest, hashes, sizes)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"manifest.json is malformed ({exc!r})") from exc


def _check_members(
    path: Path, folder: Path, manifest: dict, hashes: dict[str, str], sizes: dict[str, int]
) -> Archive:
    expected = {MANIFEST}
    for t in manifest["tables"]:
        name = t["file"]
        expected.add(name)
        if name != f"tables/{t['name']}.jsonl":
            raise BackupError(f"manifest names an unexpected file {name!r}")
        if hashes.get(name) != t["sha256"]:
            raise BackupError(f"{name} does not match the manifest (altered or missing)")
    index = manifest["uploads"]["index"]
    expected.add(index)
    if index != UPLOAD_INDEX or hashes.get(index) != manifest["uploads"]["index_sha256"]:
        raise BackupError(f"{UPLOAD_INDEX} does not match the manifest (altered or missing)")
    archive = Archive(folder, manifest, _sha256_file(path))
    count = 0
    for entry in archive.upload_entries():
        if not _valid_upload_name(entry["name"]):
            raise BackupError(f"unexpected upload name {entry['name']!r}")
        name = f"uploads/{entry['name']}"
        expected.add(name)
        if hashes.get(name) != entry["sha256"] or sizes.get(name) != entry["size"]:
            raise BackupError(f"{name} does not match the manifest (altered or missing)")
        count += 1
    if count != manifest["uploads"]["count"]:
        raise BackupError("the upload index does not match the manifest")
    extra = set(hashes) - expected
    if extra:
        raise BackupError(f"the archive holds files the manifest does not name: {sorted(extra)}")
    return archive


def _count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            n += chunk.count(b"\n")
    return n


def _prepare_schema(revisions: list[str]) -> tuple[bool, bool]:
    """Make sure the database is at the archive's revision; creates the schema in a database
    without tables. Returns whether it ran the migrations, and whether the archive's revision
    is older than this version of the portal (``flask db upgrade`` is due after the restore)."""
    from alembic.script import ScriptDirectory
    from flask_migrate import upgrade

    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    behind = sorted(script.get_heads()) != sorted(revisions)
    for rev in revisions:
        try:
            script.get_revision(rev)
        except Exception as exc:
            raise BackupError(
                f"the archive was made at revision {rev}, which this version of the portal "
                "does not know; restore it with the version that made it"
            ) from exc
    with db.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names()) - {VERSION_TABLE}
        current = _revisions(conn)
    if not names and not current:
        if len(revisions) != 1:
            raise BackupError("the archive has several heads; upgrade the database by hand")
        upgrade(revision=revisions[0])
        return True, behind
    if current != revisions:
        want = ", ".join(revisions)
        raise BackupError(
            f"the database is at revision {', '.join(current) or '(none)'} but the archive "
            f"was made at {want}. Bring the database to that revision first "
            f"(`flask db upgrade {want}` or `flask db downgrade {want}`), or restore into "
            "an empty database, then run `flask db upgrade`."
        )
    return False, behind


def _has_rows(conn: sa.Connection, tables: list[sa.Table]) -> list[str]:
    return [
        t.name
        for t in tables
        if conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first() is not None
    ]


def _wipe(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """Delete every row, children first. The audit log's append-only triggers are set aside
    for the wipe only, inside the same transaction (a failure restores them too)."""
    quote = conn.dialect.identifier_preparer.format_table
    if conn.dialect.name == "postgresql":
        names = ", ".join(quote(t) for t in tables)
        for t in tables:
            conn.exec_driver_sql(f"ALTER TABLE {quote(t)} DISABLE TRIGGER USER")
        conn.exec_driver_sql(f"TRUNCATE TABLE {names}")
        for t in tables:
            conn.exec_driver_sql(f"ALTER TABLE {quote(t)} ENABLE TRIGGER USER")
        return
    names = [t.name for t in tables]
    triggers = conn.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"names": names},
    ).all()
    for name, _sql in triggers:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    for t in reversed(tables):
        conn.execute(t.delete())
    for _name, sql in triggers:
        conn.exec_driver_sql(sql)


def _load_table(conn: sa.Connection, table: sa.Table, path: Path, batch: int) -> int:
    decoders = {c.name: fn for c in table.columns if (fn := _decoder(c)) is not None}
    insert = table.insert()
    rows, done = [], 0
    with path.open("rb") as fh:
        for line in fh:
            rows.append(decode_row(json.loads(line), decoders))
            if len(rows) >= batch:
                conn.execute(insert, rows)
                done, rows = done + len(rows), []
    if rows:
        conn.execute(insert, rows)
        done += len(rows)
    return done


def _reset_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """PostgreSQL: each serial key's sequence continues after the highest restored id."""
    for t in tables:
        pk = list(t.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, sa.Integer):
            continue
        seq = conn.execute(
            sa.select(sa.func.pg_get_serial_sequence(t.name, pk[0].name))
        ).scalar_one()
        if seq is None:
            continue
        top = conn.execute(sa.select(sa.func.max(pk[0]))).scalar_one()
        conn.execute(sa.select(sa.func.setval(seq, (top or 0) + 1, False)))


def _end_sessions(conn: sa.Connection, md: sa.MetaData) -> int:
    """Sessions and API tokens come back revoked: one that was signed out, or revoked after the
    backup was taken, must not come back to life."""
    from portal.core.clock import utcnow

    ended = 0
    for name, extra in (("user_sessions", {"revoke_reason": "restore"}), ("api_tokens", {})):
        table = md.tables.get(name)
        if table is None or "revoked_at" not in table.c:
            continue
        now = _decoder(table.c.revoked_at)(utcnow().isoformat())
        values = {"revoked_at": now, **{k: v for k, v in extra.items() if k in table.c}}
        result = conn.execute(table.update().where(table.c.revoked_at.is_(None)).values(**values))
        ended += result.rowcount or 0
    return ended


def restore_backup(
    path: Path, *, wipe: bool = False, allow_broken_chain: bool = False, batch: int = BATCH
) -> RestoreResult:
    """Restore an archive into the application's database and upload folder.

    Works in ``db.session``'s transaction and does not commit: the caller commits once
    (``portal.cli.transactional``), or rolls back on any error so nothing is half restored.
    Raises ``BackupError`` when the archive does not check out, the database is at another
    revision or holds data (without ``wipe``), or the restored audit chain does not verify
    (without ``allow_broken_chain``).
    """
    from portal.core import audit

    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    instance = Path(current_app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".portal-restore-", dir=instance))
    copied: list[str] = []
    try:
        archive = unpack(path, stage)
        manifest = archive.manifest
        for t in manifest["tables"]:
            if _count_lines(archive.table_file(t["name"])) != t["rows"]:
                raise BackupError(f"{t['file']}: row count differs from the manifest")
        upgraded, behind = _prepare_schema(manifest["alembic_revisions"])

        conn = db.session.connection()
        md, tables = _reflect(conn)
        archived = {t["name"]: t for t in manifest["tables"]}
        if set(archived) != {t.name for t in tables}:
            missing = sorted(set(archived) ^ {t.name for t in tables})
            raise BackupError(f"the database's tables differ from the archive's: {missing}")
        for t in tables:
            if set(archived[t.name]["columns"]) != {c.name for c in t.columns}:
                raise BackupError(f"the columns of {t.name} differ from the archive's")
        busy = _has_rows(conn, tables)
        if busy and not wipe:
            raise BackupError(
                "the database is not empty (rows in "
                f"{', '.join(busy[:5])}{'…' if len(busy) > 5 else ''}); "
                "run again with --yes to delete all its data and restore the archive"
            )
        if busy:
            _wipe(conn, tables)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        rows = 0
        for t in tables:
            rows += _load_table(conn, t, archive.table_file(t.name), batch)
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn, tables)
        sessions_ended = _end_sessions(conn, md)

        check = audit.verify()
        if check.ok:
            message = f"audit chain intact: {check.checked} events"
        else:
            message = (
                f"audit chain broken at event {check.first_bad_id} ({check.reason}); "
                f"{check.checked} events before it are intact"
            )
            if not allow_broken_chain:
                raise BackupError(
                    f"{message}. Nothing was restored. To restore this archive anyway, for "
                    "investigation, run again with --allow-broken-chain."
                )

        store = _storage()
        for entry in archive.upload_entries():
            name = entry["name"]
            existed = store.exists(name)
            store.save(name, (stage / "uploads" / name).read_bytes())  # each at most 10 MiB
            if not existed:
                copied.append(name)

        audit.record(
            "backup.restored",
            actor="cli",
            object_type="backup",
            object_id=path.name[:64],
            result="success" if check.ok else "failure",
            archive_sha256=archive.sha256,
            created_at=manifest["created_at"],
            source_dialect=manifest["dialect"],
            rows=rows,
            uploads=manifest["uploads"]["count"],
            wiped=bool(busy),
            sessions_ended=sessions_ended,
            chain=message,
        )
        return RestoreResult(
            tables=len(tables),
            rows=rows,
            uploads=manifest["uploads"]["count"],
            wiped=bool(busy),
            upgraded=upgraded,
            audit_events=check.checked,
            chain_ok=check.ok,
            chain_message=message,
            sessions_ended=sessions_ended,
            behind_head=behind,
        )
    except BaseException:
        for name in copied:  # the files of a failed restore do not stay behind
            _storage().delete(name)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# --------------------------------------------------------------------------- commands


@click.command("backup")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="archive to write (default: instance/backups/portal-<UTC time>.tar.gz)",
)
@with_appcontext
def backup_command(output: Path | None) -> None:
    """Back up the database and the uploaded files into one archive (not the keys)."""
    from portal.cli import transactional

    @transactional
    def run() -> None:
        from portal.core import audit

        try:
            result = create_backup(output)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        # after the archive is complete, so the event can name its SHA-256; the archive
        # itself therefore never holds the event of its own making (docs/backup.md)
        audit.record(
            "backup.created",
            actor="cli",
            object_type="backup",
            object_id=result.path.name[:64],
            archive_sha256=result.sha256,
            tables=result.tables,
            rows=result.rows,
            uploads=result.uploads,
            problems=len(result.problems),
            result="success" if not result.problems else "failure",
        )
        click.echo(f"backup written: {result.path}")
        click.echo(
            f"{result.tables} tables, {result.rows} rows, {result.uploads} uploaded files; "
            f"sha256 {result.sha256}"
        )
        click.echo(
            "The keys are not in the archive: keep instance/secret_key, instance/data_key and "
            "instance/credit_signing_key.pem (or PORTAL_SECRET_KEY, PORTAL_DATA_KEY and "
            "PORTAL_CREDIT_SIGNING_KEY) safe, apart from it."
        )
        return result

    result = run()
    if result.problems:
        click.echo(
            f"{len(result.problems)} uploaded files could not be backed up as recorded:", err=True
        )
        for line in result.problems[:20]:
            click.echo(f"  {line}", err=True)
        raise SystemExit(1)


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="delete all data in the database first")
@click.option(
    "--allow-broken-chain",
    is_flag=True,
    help="restore even when the restored audit chain does not verify (for investigation)",
)
@with_appcontext
def restore_command(archive: Path, yes: bool, allow_broken_chain: bool) -> None:
    """Restore a backup archive into this database and upload folder, then verify the audit
    chain (exit 1 if it is broken). Refuses a database with data unless --yes."""
    from portal.cli import transactional

    @transactional
    def run() -> RestoreResult:
        try:
            return restore_backup(archive, wipe=yes, allow_broken_chain=allow_broken_chain)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc

    result = run()
    if result.upgraded:
        click.echo("created the schema at the archive's revision")
    if result.wiped:
        click.echo("deleted the data that was in the database")
    click.echo(
        f"restored {result.rows} rows in {result.tables} tables and "
        f"{result.uploads} uploaded files from {archive}"
    )
    if result.sessions_ended:
        click.echo(f"ended {result.sessions_ended} sessions and API tokens from the archive")
    click.echo(result.chain_message, err=not result.chain_ok)
    if result.behind_head:
        click.echo("The archive is from an older version: now run `flask db upgrade`.")
    if not result.chain_ok:
        raise SystemExit(1)

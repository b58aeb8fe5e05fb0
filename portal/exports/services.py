"""Ask for an export, build it in a job with visible progress, hand it to its owner only."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import Response, current_app, send_file
from flask_babel import force_locale, format_date
from sqlalchemy.orm import selectinload

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.applications.models import Application, Status
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.errors import Forbidden, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.spreadsheets import XlsxStream, write_csv
from portal.exports.models import Export, ExportStatus
from portal.extensions import db

BATCH = 2000
PROGRESS_SECONDS = 0.5  # an export's progress is committed this often, not after each batch
MIMETYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson",
}


@dataclass(frozen=True)
class ExportKind:
    """One kind of export: who may ask, in which formats, what is fixed when asked (the
    asker's scope), and its header, row count and rows (keyset batches, progress committed
    after each). ``json_keys`` name the fields of a JSON Lines record, row by row."""

    title: Any
    roles: tuple[Role, ...]
    header: Callable[[], Sequence[Any]]
    count: Callable[[dict[str, Any]], int]
    rows: Callable[[dict[str, Any], Export], Iterator[Sequence[Any]]]
    scope: Callable[[User], dict[str, Any]]
    formats: tuple[str, ...] = ("csv", "xlsx")
    json_keys: tuple[str, ...] | None = None


class Progress:
    """The rows written, committed for the progress page at most every
    :data:`PROGRESS_SECONDS` (a commit per batch would cost more than the batch)."""

    def __init__(self, export: Export) -> None:
        self.export, self.pending, self.last = export, 0, time.monotonic()

    def add(self, rows: int) -> None:
        self.pending += rows
        if time.monotonic() - self.last >= PROGRESS_SECONDS:
            self.commit()

    def commit(self) -> None:
        self.export.done_rows += self.pending
        self.pending = 0
        db.session.commit()
        self.last = time.monotonic()


def districts_scope(user: User) -> dict[str, Any]:
    """An export's scope fixed when asked: an officer's districts; None, a manager's whole
    city."""
    if user.role is Role.OFFICER:
        return {"districts": [d.id for d in user.districts]}
    return {"districts": None}


def day_cell(value) -> str:
    """A date (or a moment, on the city's calendar) as a cell: ``2026-03-05``; blank for
    none."""
    return format_date(value, "yyyy-MM-dd") if value else ""


def export_kinds() -> dict[str, ExportKind]:
    """Every kind of export, by name (domains add theirs here)."""
    from portal.credit.lists import EXPORT_KINDS
    from portal.reports.assessment import EXPORT_KINDS as ASSESSMENT_KINDS
    from portal.reports.ledgers import EXPORT_KINDS as LEDGER_KINDS
    from portal.subsidy.exports import EXPORT_KINDS as SUBSIDY_KINDS
    from portal.tenancy.exports import export_kinds as rent_kinds

    return {
        "applications_ledger": LEDGER,
        **EXPORT_KINDS,
        **SUBSIDY_KINDS,
        **rent_kinds(),
        **LEDGER_KINDS,
        **ASSESSMENT_KINDS,
    }


def kinds_for(user: User) -> dict[str, Any]:
    """The kinds ``user`` may ask for, with their titles."""
    return {name: k.title for name, k in export_kinds().items() if user.role in k.roles}


def title_of(kind: str) -> str:
    found = export_kinds().get(kind)
    return str(found.title) if found else kind


def export_folder() -> Path:
    folder = Path(
        current_app.config.get("EXPORT_FOLDER")
        or os.path.join(current_app.instance_path, "exports")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def request_export(
    user: User, kind: str, fmt: str, locale: str, *, params: dict[str, Any] | None = None
) -> Export:
    """Fix the export's scope now (who asks decides what is in it) and queue the job.
    ``params`` (from the calling service, e.g. which month) never override the scope."""
    found = export_kinds().get(kind)
    if found is None:
        raise ValidationFailed(_l("Unknown export."), field="kind")
    if user.role not in found.roles:
        raise Forbidden()
    if fmt not in found.formats:
        message = (
            _l("Choose CSV, Excel or JSON Lines.")
            if "jsonl" in found.formats
            else _l("Choose CSV or Excel.")
        )
        raise ValidationFailed(message, field="format")
    export = Export(
        owner_id=user.id,
        kind=kind,
        format=fmt,
        params_json=json.dumps({**(params or {}), **found.scope(user), "locale": locale}),
        status=ExportStatus.QUEUED,
    )
    db.session.add(export)
    db.session.flush()
    audit.record("export.requested", actor=user, obj=export, kind=kind, format=fmt)
    from portal.jobs import enqueue

    enqueue("exports.build", export_id=export.id)
    return export


def _ledger_query(params: dict[str, Any]) -> sa.Select:
    stmt = sa.select(Application).where(Application.status != Status.DRAFT)
    if params.get("districts") is not None:
        stmt = stmt.where(Application.district_id.in_(params["districts"]))
    return stmt


LEDGER_HEADER = (
    _l("Reference"),
    _l("Programme"),
    _l("Status"),
    _l("District"),
    _l("Applicant"),
    _l("ID number"),
    _l("Household size"),
    _l("Submitted"),
    _l("Decision due by"),
    _l("Decided"),
    _l("Qualified"),
)


def _ledger_rows(params: dict[str, Any], export: Export) -> Iterator[list[Any]]:
    """Keyset-paginated rows; progress is committed after every batch."""
    locale = params.get("locale") or "zh_Hans_CN"
    names = {d.id: d.name(locale) for d in db.session.scalars(sa.select(District))}
    last_id = 0
    while True:
        batch = db.session.scalars(
            _ledger_query(params)
            .where(Application.id > last_id)
            .order_by(Application.id)
            .limit(BATCH)
            .options(selectinload(Application.applicant), selectinload(Application.members))
        ).all()
        if not batch:
            return
        for a in batch:
            yield [
                a.reference,
                str(a.programme.label),
                str(a.status.label),
                names.get(a.district_id, ""),
                a.applicant.real_name,
                a.members[0].masked_id_number,
                len(a.members),
                day_cell(a.submitted_at),
                day_cell(a.decide_by),
                day_cell(a.decided_at),
                day_cell(a.qualified_at),
            ]
        last_id = batch[-1].id
        export.done_rows += len(batch)
        db.session.commit()  # progress the owner's page can see
        # memory stays flat: the batch's rows leave the session (nothing else does, so a
        # request that built the file in-process keeps its own objects)
        done = {*batch, *(a.applicant for a in batch), *(m for a in batch for m in a.members)}
        for obj in done:
            if obj in db.session:
                db.session.expunge(obj)


def _ledger_count(params: dict[str, Any]) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(_ledger_query(params).subquery())
    )


LEDGER = ExportKind(
    title=_l("Applications ledger"),
    roles=(Role.OFFICER, Role.MANAGER),
    header=lambda: LEDGER_HEADER,
    count=_ledger_count,
    rows=_ledger_rows,
    scope=districts_scope,
)


def write_jsonl(fh: IO[str], keys: Sequence[str], rows: Iterator[Sequence[Any]]) -> int:
    """JSON Lines: one object per row with ``keys``, so a file of any size streams."""
    count = 0
    for row in rows:
        fh.write(json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) + "\n")
        count += 1
    return count


def build_export(export_id: int) -> None:
    """The job: writes the file, committing its progress as it goes (a top-level unit of work,
    like a CLI command). Running it again for a finished export does nothing."""
    export = db.session.get(Export, export_id)
    if export is None or export.status is ExportStatus.DONE:
        return
    params = export.params
    kind = export_kinds()[export.kind]
    export.status = ExportStatus.RUNNING
    export.done_rows = 0
    export.total = kind.count(params)
    db.session.commit()
    name = f"{secrets.token_hex(16)}.{export.format}"
    path = export_folder() / name
    try:
        with force_locale(params.get("locale") or "zh_Hans_CN"):
            header = [str(h) for h in kind.header()]
            rows = kind.rows(params, export)
            if export.format == "csv":
                with path.open("w", encoding="utf-8-sig", newline="") as fh:
                    write_csv(fh, header, rows)
            elif export.format == "jsonl":
                with path.open("w", encoding="utf-8", newline="\n") as fh:
                    write_jsonl(fh, kind.json_keys or header, rows)
            else:
                book = XlsxStream(str(path), header, sheet=str(kind.title))
                for row in rows:
                    book.append(row)
                book.close()
    except Exception as exc:
        db.session.rollback()
        path.unlink(missing_ok=True)
        export = db.session.get(Export, export_id)
        export.status = ExportStatus.FAILED
        export.error = str(exc)[:300]
        db.session.commit()
        raise
    export = db.session.get(Export, export_id)
    export.storage_name = name
    export.size = path.stat().st_size
    export.status = ExportStatus.DONE
    export.finished_at = utcnow()
    db.session.commit()


def export_path(export: Export) -> Path:
    return export_folder() / (export.storage_name or "missing")


def download_name(export: Export) -> str:
    """A finished export's file name when downloaded: ``kind-YYYYmmdd-HHMM.format``."""
    return f"{export.kind}-{export.created_at:%Y%m%d-%H%M}.{export.format}"


def file_response(export: Export, actor: User) -> Response:
    """A finished export's file as an attachment, its download recorded in the audit log."""
    audit.record("export.downloaded", actor=actor, obj=export)
    resp = send_file(
        export_path(export),
        mimetype=MIMETYPES[export.format],
        as_attachment=True,
        download_name=download_name(export),
        max_age=0,
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp

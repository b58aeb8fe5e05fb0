"""Ask for an export, build it in a job with visible progress, hand it to its owner only."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
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

FORMATS = ("csv", "xlsx")
BATCH = 2000
KINDS = {"applications_ledger": _l("Applications ledger")}


def export_folder() -> Path:
    folder = Path(
        current_app.config.get("EXPORT_FOLDER")
        or os.path.join(current_app.instance_path, "exports")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def request_export(user: User, kind: str, fmt: str, locale: str) -> Export:
    """Fix the export's scope now (who asks decides what is in it) and queue the job."""
    if kind not in KINDS:
        raise ValidationFailed(_l("Unknown export."), field="kind")
    if fmt not in FORMATS:
        raise ValidationFailed(_l("Choose CSV or Excel."), field="format")
    if user.role is Role.OFFICER:
        districts = [d.id for d in user.districts]
    elif user.role is Role.MANAGER:
        districts = None  # the whole city
    else:
        raise Forbidden()
    export = Export(
        owner_id=user.id,
        kind=kind,
        format=fmt,
        params_json=json.dumps({"districts": districts, "locale": locale}),
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

    def day(value) -> str:
        return format_date(value, "yyyy-MM-dd") if value else ""

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
                day(a.submitted_at),
                day(a.decide_by),
                day(a.decided_at),
                day(a.qualified_at),
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


def build_export(export_id: int) -> None:
    """The job: writes the file, committing its progress as it goes (a top-level unit of work,
    like a CLI command). Running it again for a finished export does nothing."""
    export = db.session.get(Export, export_id)
    if export is None or export.status is ExportStatus.DONE:
        return
    params = export.params
    export.status = ExportStatus.RUNNING
    export.done_rows = 0
    export.total = db.session.scalar(
        sa.select(sa.func.count()).select_from(_ledger_query(params).subquery())
    )
    db.session.commit()
    name = f"{secrets.token_hex(16)}.{export.format}"
    path = export_folder() / name
    try:
        with force_locale(params.get("locale") or "zh_Hans_CN"):
            header = [str(h) for h in LEDGER_HEADER]
            rows = _ledger_rows(params, export)
            if export.format == "csv":
                with path.open("w", encoding="utf-8-sig", newline="") as fh:
                    write_csv(fh, header, rows)
            else:
                book = XlsxStream(str(path), header, sheet=str(KINDS[export.kind]))
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

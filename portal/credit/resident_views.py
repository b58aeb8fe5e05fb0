"""The resident's credit record (/my/credit): their records, found by their ID number, with
grade, points, facts, measures, dates and history; their score; objecting to a record
(异议) within the period and asking for credit repair (信用修复) once it may be asked."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core import audit
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import NotFound, PortalError
from portal.core.forms import show_error
from portal.core.uploads import send_upload
from portal.credit import services
from portal.credit.forms import AppealForm
from portal.credit.models import CreditRecord

bp = Blueprint("my_credit", __name__, url_prefix="/my/credit")


def _actor() -> User:
    return current_user._get_current_object()


def _load(reference: str) -> CreditRecord:
    try:
        return services.record_of_subject(_actor(), reference)
    except NotFound:
        abort(404)


@bp.get("")
@allow(Role.RESIDENT)
def index():
    """The resident's score and records."""
    user = _actor()
    value, letter = (100, "A")
    if user.id_number_index:
        value, letter = services.score(user.id_number_index)
    return render_template(
        "credit/mine.html",
        records=services.records_of_subject(user),
        score=value,
        score_grade=letter,
        in_force=services.IN_FORCE,
    )


def _page(
    record: CreditRecord,
    *,
    objection_form: AppealForm | None = None,
    repair_form: AppealForm | None = None,
    files_dropped: bool = False,
    status: int = 200,
):
    return render_template(
        "credit/my_record.html",
        record=record,
        violation=record.violation_type,
        history=services.history(record),
        appeals=services.appeals_of(record),
        can_object=services.can_object(record),
        can_repair=services.can_ask_repair(record),
        objection_form=objection_form or AppealForm(formdata=None),
        repair_form=repair_form or AppealForm(formdata=None),
        files_dropped=files_dropped,
        max_files=services.MAX_APPEAL_FILES,
        today=today(),
    ), status


@bp.get("/<reference>")
@allow(Role.RESIDENT)
def record(reference: str):
    """One of the resident's records, with what they may do about it."""
    return _page(_load(reference))


def _dropped(field: str) -> bool:
    return any(f.filename for f in request.files.getlist(field))


def _appeal(reference: str, form_name: str, file_appeal, received):
    """Send an objection or a request for repair: the page again with the errors (and a
    word that attached files must be attached again), or the record with ``received``."""
    record = _load(reference)
    form = AppealForm()
    if not form.validate_on_submit():
        return _page(record, files_dropped=_dropped("files"), status=422, **{form_name: form})
    try:
        appeal = file_appeal(_actor(), record, form.reason.data, request.files.getlist("files"))
    except PortalError as exc:
        show_error(form, exc)
        return _page(
            services.record_of_subject(_actor(), reference),
            files_dropped=_dropped("files"),
            status=exc.status,
            **{form_name: form},
        )
    flash(received(format_date(appeal.respond_by)), "success")
    return redirect(url_for("my_credit.record", reference=record.reference))


@bp.post("/<reference>/objection")
@allow(Role.RESIDENT)
def objection(reference: str):
    return _appeal(
        reference,
        "objection_form",
        services.object_to_record,
        lambda day: _(
            "Your objection is received. A manager decides by %(date)s and tells you; the "
            "record stays in force meanwhile.",
            date=day,
        ),
    )


@bp.post("/<reference>/repair")
@allow(Role.RESIDENT)
def repair(reference: str):
    return _appeal(
        reference,
        "repair_form",
        services.ask_repair,
        lambda day: _(
            "Your request for credit repair is received. A manager decides by %(date)s and "
            "tells you.",
            date=day,
        ),
    )


@bp.get("/<reference>/files/<int:upload_id>")
@allow(Role.RESIDENT)
def file(reference: str, upload_id: int):
    """A file of the resident's own record (evidence, or one they sent), as an attachment."""
    record = _load(reference)
    try:
        upload = services.file_of(record, upload_id)
    except PortalError:
        abort(404)
    audit.record("credit.file_download", actor=_actor(), obj=upload, record=record.reference)
    return send_upload(upload)

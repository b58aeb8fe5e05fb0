"""Staff pages of the credit records (/staff/credit): the records officers and managers may
see, flagging a violation, a record's page with the managers' confirmation (four eyes),
the objections and repair requests to decide, and the violation catalogue."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Application
from portal.core import audit
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import choices, show_error
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.uploads import send_upload
from portal.credit import rules, services
from portal.credit.forms import (
    ConfirmForm,
    DecideForm,
    FlagForm,
    RecordFilterForm,
    RejectForm,
    RetireForm,
    VersionForm,
)
from portal.credit.models import (
    AppealStatus,
    CreditAppeal,
    CreditRecord,
    Grade,
    RecordStatus,
)
from portal.extensions import db
from portal.tenancy.models import Lease

bp = Blueprint("credit", __name__, url_prefix="/staff/credit")

STAFF = (Role.OFFICER, Role.MANAGER)


def _actor() -> User:
    return current_user._get_current_object()


def _load(record_id: int) -> CreditRecord:
    user = _actor()
    return load_in_scope(CreditRecord, record_id, services.record_scope(user), user)


def _files_attached(field: str) -> bool:
    return any(f.filename for f in request.files.getlist(field))


# --- records ---------------------------------------------------------------------------------


@bp.get("/")
@allow(*STAFF)
def index():
    """The records the staff member may see, the newest first, with filters."""
    filters = RecordFilterForm(formdata=request.args)
    wanted = services.RecordFilter()
    if filters.validate():
        wanted.status = RecordStatus(filters.status.data) if filters.status.data else None
        wanted.grade = Grade(filters.grade.data) if filters.grade.data else None
        wanted.q = filters.q.data or ""
    rows, next_before = services.records_page(
        _actor(), wanted, before=request.args.get("before", type=int)
    )
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "credit/index.html",
        rows=rows,
        filters=filters,
        next_before=next_before,
        args=args,
        work=services.workload(_actor()),
        masked=services.masked_subject,
    )


def _code_choices(form: FlagForm) -> None:
    locale = current_locale()
    form.code.choices = choices(
        (v.code, f"{v.code} · {v.name(locale)} ({v.grade.label})") for v in services.catalogue()
    )


def _flag_page(form: FlagForm, status: int = 200, files_dropped: bool = False):
    _code_choices(form)
    return render_template(
        "credit/flag.html",
        form=form,
        files_dropped=files_dropped,
        max_files=services.MAX_EVIDENCE,
        today=today(),
    ), status


@bp.route("/flag", methods=["GET", "POST"])
@allow(*STAFF)
def flag():
    """Flag a violation: a PENDING record that another manager confirms."""
    form = FlagForm()
    if not form.is_submitted():
        return _flag_page(form)
    _code_choices(form)
    if not form.validate():
        return _flag_page(form, 422, _files_attached("evidence"))
    try:
        record = services.flag_violation(
            _actor(),
            subject_kind=form.subject_kind.data,
            id_number=form.id_number.data,
            credit_code=form.credit_code.data,
            name=form.name.data,
            code=form.code.data,
            facts=form.facts.data,
            occurred_on=form.occurred_on.data,
            months=form.months.data,
            evidence=request.files.getlist("evidence"),
        )
    except PortalError as exc:
        show_error(form, exc)
        return _flag_page(form, exc.status, _files_attached("evidence"))
    flash(
        _(
            "Violation flagged as %(reference)s. Another manager confirms it before it takes "
            "effect.",
            reference=record.reference,
        ),
        "success",
    )
    return redirect(url_for("credit.record", record_id=record.id))


def _record_page(
    record: CreditRecord,
    *,
    confirm_form: ConfirmForm | None = None,
    reject_form: RejectForm | None = None,
    status: int = 200,
):
    user = _actor()
    value, letter = services.score(record.subject_index)
    return render_template(
        "credit/record.html",
        record=record,
        subject=services.masked_subject(record),
        violation=record.violation_type,
        application=db.session.get(Application, record.application_id)
        if record.application_id
        else None,
        lease=db.session.get(Lease, record.lease_id) if record.lease_id else None,
        score=value,
        score_grade=letter,
        history=services.history(record),
        appeals=services.appeals_of(record),
        sources=services.SOURCES,
        is_manager=user.role is Role.MANAGER,
        own_flag=record.flagged_by_id == user.id,
        confirm_form=confirm_form or ConfirmForm(formdata=None),
        reject_form=reject_form or RejectForm(formdata=None),
        today=today(),
    ), status


@bp.get("/records/<int:record_id>")
@allow(*STAFF)
def record(record_id: int):
    """One record: facts, evidence, dates, history and the subject's score."""
    return _record_page(_load(record_id))


@bp.post("/records/<int:record_id>/confirm")
@allow(Role.MANAGER)
def confirm(record_id: int):
    record = _load(record_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _record_page(record, confirm_form=form, status=422)
    try:
        services.confirm(record, _actor(), form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _record_page(db.session.get(CreditRecord, record_id), status=exc.status)
    flash(
        _(
            "%(reference)s is confirmed and in force; the subject may object until %(date)s.",
            reference=record.reference,
            date=format_date(record.object_by),
        ),
        "success",
    )
    return redirect(url_for("credit.record", record_id=record.id))


@bp.post("/records/<int:record_id>/reject")
@allow(Role.MANAGER)
def reject(record_id: int):
    record = _load(record_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _record_page(record, reject_form=form, status=422)
    try:
        services.reject(record, _actor(), form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _record_page(
            db.session.get(CreditRecord, record_id), reject_form=form, status=exc.status
        )
    flash(_("%(reference)s is not confirmed.", reference=record.reference), "success")
    return redirect(url_for("credit.record", record_id=record.id))


@bp.get("/records/<int:record_id>/files/<int:upload_id>")
@allow(*STAFF)
def file(record_id: int, upload_id: int):
    """Evidence or a file of an appeal, as an attachment, for the staff who may see the
    record."""
    record = _load(record_id)
    try:
        upload = services.file_of(record, upload_id)
    except PortalError:
        abort(404)
    audit.record("credit.file_download", actor=_actor(), obj=upload, record=record.reference)
    return send_upload(upload)


# --- objections and repair requests (managers) -----------------------------------------------


@bp.get("/appeals")
@allow(Role.MANAGER)
def appeals():
    """Objections and repair requests to decide, the most urgent first."""
    return render_template("credit/appeals.html", appeals=services.open_appeals(), today=today())


@bp.route("/appeals/<int:appeal_id>", methods=["GET", "POST"])
@allow(Role.MANAGER)
def appeal(appeal_id: int):
    item = db.get_or_404(CreditAppeal, appeal_id)
    form = DecideForm()
    status = 200
    if form.validate_on_submit():
        try:
            item = services.decide_appeal(
                item, _actor(), granted=form.outcome.data == "granted", reason=form.reason.data
            )
        except PortalError as exc:
            show_error(form, exc)
            item = db.session.get(CreditAppeal, appeal_id)
            status = exc.status
        else:
            flash(
                _(
                    "Decided: %(outcome)s. The subject is told.",
                    outcome=item.status.label,
                ),
                "success",
            )
            return redirect(url_for("credit.appeals"))
    elif form.is_submitted():
        status = 422
    record = item.record
    value, letter = services.score(record.subject_index)
    return render_template(
        "credit/appeal.html",
        appeal=item,
        record=record,
        subject=services.masked_subject(record),
        score=value,
        score_grade=letter,
        form=form,
        open=item.status is AppealStatus.OPEN,
        today=today(),
    ), status


# --- the catalogue ---------------------------------------------------------------------------


@bp.get("/catalogue")
@allow(*STAFF)
def catalogue():
    """The violation catalogue in force today, and the codes retired."""
    every = services.catalogue(include_retired=True)
    return render_template(
        "credit/catalogue.html",
        current=[v for v in every if not v.retired],
        retired=[v for v in every if v.retired],
        is_manager=_actor().role is Role.MANAGER,
        per_month=rules.PER_MONTH,
        serious_from=rules.SERIOUS_FROM_MONTHS,
    )


def _version_values(form: VersionForm) -> dict:
    return {name: getattr(form, name).data for name in rules.FIELDS}


def _version_page(code: str | None, form: VersionForm, status: int = 200, retire_form=None):
    versions = services.versions_of(code) if code else []
    return render_template(
        "credit/version.html",
        code=code,
        versions=versions,
        current=next((v for v in services.catalogue(include_retired=True) if v.code == code), None),
        form=form,
        retire_form=retire_form or RetireForm(formdata=None),
        is_manager=_actor().role is Role.MANAGER,
        min_date=today().isoformat(),
        today=today(),
    ), status


@bp.route("/catalogue/new", methods=["GET", "POST"])
@allow(Role.MANAGER)
def new_code():
    """A new violation code (version 1), in force from a date."""
    form = VersionForm()
    if not form.is_submitted():
        form.effective_from.data = today()
        return _version_page(None, form)
    if not form.validate():
        return _version_page(None, form, 422)
    code = (form.code.data or "").strip().upper()
    if services.versions_of(code):
        form.code.errors = [*form.code.errors, _("This code exists: add a version to it.")]
        return _version_page(None, form, 422)
    try:
        row = services.add_type_version(
            _actor(), code, _version_values(form), form.effective_from.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _version_page(None, form, exc.status)
    flash(_("%(code)s is in the catalogue.", code=row.code), "success")
    return redirect(url_for("credit.version", code=row.code))


@bp.get("/catalogue/<code>")
@allow(*STAFF)
def version(code: str):
    """One code: its history of versions and, for managers, a form for the next one."""
    if not services.versions_of(code):
        abort(404)
    current = next(v for v in services.catalogue(include_retired=True) if v.code == code)
    form = VersionForm(formdata=None, data={**services.values_of(current)})
    form.grade.data = current.grade.value
    form.effective_from.data = today()
    return _version_page(code, form)


@bp.post("/catalogue/<code>")
@allow(Role.MANAGER)
def add_version(code: str):
    if not services.versions_of(code):
        abort(404)
    form = VersionForm()
    if not form.validate():
        return _version_page(code, form, 422)
    try:
        row = services.add_type_version(
            _actor(), code, _version_values(form), form.effective_from.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _version_page(code, form, exc.status)
    flash(
        _(
            "Version %(version)d of %(code)s is stored and in force from %(date)s.",
            version=row.version,
            code=row.code,
            date=format_date(row.effective_from),
        ),
        "success",
    )
    return redirect(url_for("credit.version", code=row.code))


@bp.post("/catalogue/<code>/retire")
@allow(Role.MANAGER)
def retire(code: str):
    if not services.versions_of(code):
        abort(404)
    form = RetireForm()
    if not form.validate():
        return _version_page(code, VersionForm(formdata=None), 422, retire_form=form)
    try:
        row = services.retire_type(_actor(), code, form.effective_from.data)
    except PortalError as exc:
        show_error(form, exc)
        return _version_page(code, VersionForm(formdata=None), exc.status, retire_form=form)
    flash(
        _(
            "%(code)s is retired from %(date)s: it can no longer be chosen for new records.",
            code=row.code,
            date=format_date(row.effective_from),
        ),
        "success",
    )
    return redirect(url_for("credit.version", code=row.code))

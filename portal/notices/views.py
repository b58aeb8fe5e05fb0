"""Public notices and objections (public pages, and the officers' side)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.access import allow, public, signed_in
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.notices import services
from portal.notices.forms import ActionForm, ObjectionForm, PublishForm, ResolveForm
from portal.notices.models import Notice, NoticeEntry, Objection, ObjectionStatus

bp = Blueprint("notices", __name__)


def _actor() -> User:
    return current_user._get_current_object()


def _viewer() -> User | None:
    return _actor() if current_user.is_authenticated else None


# --- public ------------------------------------------------------------------------------


@bp.get("/notices")
@public
def index():
    """Running notices and the ones closed lately."""
    return render_template(
        "notices/index.html",
        running=services.open_notices(),
        closed=services.recently_closed(),
        rules=services.notice_rules(),
    )


def _render_show(notice: Notice, form: ObjectionForm | None = None, form_entry_id=None):
    return render_template(
        "notices/show.html",
        notice=notice,
        summary=services.summary_of(notice),
        rows=services.entry_rows(notice, _viewer()),
        running=services.accepts_objections(notice),
        rules=services.notice_rules(),
        form=form or ObjectionForm(formdata=None),
        form_entry_id=form_entry_id,
    )


@bp.get("/notices/<int:notice_id>")
@public
def show(notice_id: int):
    """One notice: its households, masked, and for signed-in people a way to object."""
    return _render_show(db.get_or_404(Notice, notice_id))


@bp.post("/notices/<int:notice_id>/entries/<int:entry_id>/objections", endpoint="object")
@signed_in
def file_objection(notice_id: int, entry_id: int):
    notice = db.get_or_404(Notice, notice_id)
    entry = db.session.scalars(
        sa.select(NoticeEntry).where(NoticeEntry.id == entry_id, NoticeEntry.notice_id == notice.id)
    ).one_or_none()
    if entry is None:
        abort(404)
    form = ObjectionForm()
    status = 422
    if form.validate_on_submit():
        try:
            objection = services.file_objection(_actor(), entry, form.reason.data)
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(
                _(
                    "Your objection to %(reference)s is recorded. The housing office answers "
                    "you by %(date)s.",
                    reference=entry.reference,
                    date=format_date(objection.respond_by),
                ),
                "success",
            )
            return redirect(url_for("notices.show", notice_id=notice.id))
    return _render_show(notice, form, entry_id), status


# --- officers ----------------------------------------------------------------------------


def _officer_page(status: int = 200):
    officer = _actor()
    return render_template(
        "notices/officer_index.html",
        waiting=services.waiting_for_notice(officer),
        running=services.open_notices(officer),
        today=today(),
    ), status


@bp.get("/officer/notices")
@allow(Role.OFFICER)
def officer_index():
    """What waits for a notice in the officer's districts, and their running notices."""
    return _officer_page()


@bp.post("/officer/notices")
@allow(Role.OFFICER)
def publish():
    officer = _actor()
    form = PublishForm()
    if not form.validate_on_submit():
        flash(_("Choose a district and a programme to publish."), "error")
        return _officer_page(422)
    district_id = db.session.scalar(
        sa.select(District.id).where(District.code == form.district.data)
    )
    if district_id is None:
        abort(404)
    district = load_in_scope(
        District, district_id, District.id.in_([d.id for d in officer.districts]), officer
    )
    try:
        notice = services.publish_notice(officer, district, Programme(form.programme.data))
    except PortalError as exc:
        show_error(form, exc)
        return _officer_page(exc.status)
    count = len(notice.entries)
    flash(
        ngettext(
            "Notice published: %(num)d household until %(date)s.",
            "Notice published: %(num)d households until %(date)s.",
            count,
            date=format_date(notice.ends_on),
        ),
        "success",
    )
    return redirect(url_for("notices.officer_index"))


@bp.post("/officer/notices/<int:notice_id>/close")
@allow(Role.OFFICER)
def close(notice_id: int):
    officer = _actor()
    notice = load_in_scope(Notice, notice_id, services.notice_scope(officer), officer)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        qualified = services.close_notice(officer, notice)
    except PortalError as exc:
        show_error(form, exc)
        return _officer_page(exc.status)
    flash(
        ngettext(
            "Notice closed: %(num)d household qualified.",
            "Notice closed: %(num)d households qualified.",
            len(qualified),
        ),
        "success",
    )
    return redirect(url_for("notices.officer_index"))


@bp.get("/officer/objections")
@allow(Role.OFFICER)
def objections():
    """Open objections in the officer's districts, the most urgent first."""
    return render_template(
        "notices/objections.html", objections=services.open_objections(_actor()), today=today()
    )


@bp.route("/officer/objections/<int:objection_id>", methods=["GET", "POST"])
@allow(Role.OFFICER)
def objection(objection_id: int):
    officer = _actor()
    item = load_in_scope(Objection, objection_id, services.objection_scope(officer), officer)
    form = ResolveForm()
    status = 200
    if form.validate_on_submit():
        try:
            item = services.resolve_objection(
                officer, item, form.outcome.data == "upheld", form.resolution.data
            )
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            if item.status is ObjectionStatus.UPHELD:
                flash(
                    _(
                        "Objection upheld. %(reference)s is back for your decision.",
                        reference=item.entry.reference,
                    ),
                    "success",
                )
            else:
                flash(_("Objection dismissed. The objector is told."), "success")
            return redirect(url_for("notices.objections"))
    elif form.is_submitted():
        status = 422
    return render_template(
        "notices/objection.html", objection=item, form=form, today=today()
    ), status

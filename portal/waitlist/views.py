"""The waiting list: a household's position, officers' queue listing, rotation."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.core.identifiers import mask_id_number
from portal.core.scope import load_in_scope
from portal.notices.services import mask_name
from portal.waitlist import explain, services
from portal.waitlist.forms import (
    ActionForm,
    DecideForm,
    ListingForm,
    ObjectionForm,
    PriorityForm,
    SectorForm,
)
from portal.waitlist.models import EntryStatus, Group, QueueEntry, Sector

bp = Blueprint("waitlist", __name__)

STAFF = (Role.OFFICER, Role.MANAGER)


def _actor() -> User:
    return current_user._get_current_object()


# --- residents ---------------------------------------------------------------------------


def _resident_page(form: ObjectionForm | None = None, status: int = 200):
    entry = services.entry_of_resident(_actor())
    context: dict = {"entry": entry, "form": form or ObjectionForm(formdata=None)}
    if entry is not None:
        ranking = services.current_ranking()
        context.update(
            position=services.position(entry),
            calculating=services.joined_after_ranking(entry, ranking),
            points=explain.explained_points(entry),
            group_text=explain.group_sentence(entry),
            history=[(ev, explain.event_sentence(ev)) for ev in services.events_of(entry)],
            suspension=explain.suspension_sentences(entry)
            if entry.status is EntryStatus.SUSPENDED
            else [],
            removal=explain.removal_text(entry) if entry.status is EntryStatus.REMOVED else "",
            can_object=services.can_object(entry),
        )
    return render_template("waitlist/mine.html", **context), status


@bp.get("/waitlist")
@allow(Role.RESIDENT)
def mine():
    """The household's place on the waiting list, its points and its history."""
    return _resident_page()


@bp.post("/waitlist/objection")
@allow(Role.RESIDENT)
def object_to_suspension():
    resident = _actor()
    entry = services.entry_of_resident(resident)
    if entry is None:
        abort(404)
    form = ObjectionForm()
    if not form.validate_on_submit():
        return _resident_page(form, 422)
    try:
        services.object_to_suspension(entry, resident, form.objection.data)
    except PortalError as exc:
        show_error(form, exc)
        return _resident_page(form, exc.status)
    flash(
        _("Your objection is recorded. A housing officer looks at it and tells you the outcome."),
        "success",
    )
    return redirect(url_for("waitlist.mine"))


# --- staff: the list ---------------------------------------------------------------------


@bp.get("/staff/waitlist")
@allow(*STAFF)
def listing():
    """The city-wide list of one programme, 50 households a page, any page directly."""
    form = ListingForm(request.args)
    form.validate()
    try:
        programme = Programme(form.programme.data or Programme.PUBLIC_RENTAL.value)
    except ValueError:
        abort(404)
    if programme not in services.QUEUED_PROGRAMMES:
        abort(404)
    group = Group(form.group.data) if form.group.data in {g.value for g in Group} else None
    page = form.page.data if isinstance(form.page.data, int) and form.page.data > 0 else 1
    result = services.listing(programme, page, group)
    form.page.data = result.page

    def page_url(n: int) -> str:
        args = {"programme": programme.value, "page": n}
        if group is not None:
            args["group"] = group.value
        return url_for("waitlist.listing", **args)

    return render_template(
        "waitlist/listing.html",
        form=form,
        result=result,
        readable=services.readable_ids(_actor(), [r.entry_id for r in result.rows]),
        page_url=page_url,
        values=services.rule_values(),
    )


@bp.get("/staff/waitlist/long-waiters")
@allow(*STAFF)
def long_waiters():
    """Households waiting longer than the rules' ``long_wait_years``."""
    user = _actor()
    return render_template(
        "waitlist/long_waiters.html",
        rows=services.long_waiters(user),
        years=int(services.rule_values()["long_wait_years"]),
        mask_name=mask_name,
        mask_id=mask_id_number,
        applicant_of=services.applicant_of,
    )


@bp.get("/staff/waitlist/objections")
@allow(Role.OFFICER)
def objections():
    """Suspended households of the officer's districts that objected: to decide."""
    return render_template(
        "waitlist/objections.html",
        entries=services.objections_waiting(_actor()),
        mask_name=mask_name,
        applicant_of=services.applicant_of,
    )


# --- staff: one entry --------------------------------------------------------------------


def _load(entry_id: int) -> QueueEntry:
    user = _actor()
    return load_in_scope(QueueEntry, entry_id, services.reader_scope(user), user)


def _load_to_act(entry_id: int) -> QueueEntry:
    user = _actor()
    return load_in_scope(QueueEntry, entry_id, services.officer_scope(user), user)


def _entry_page(entry: QueueEntry, status: int = 200, **forms):
    user = _actor()
    applicant = services.applicant_of(entry.application)
    sector_form = forms.get("sector_form") or SectorForm(formdata=None)
    if "sector_form" not in forms:
        sector_form.sector.data = entry.sector.value if entry.sector else ""
    return render_template(
        "waitlist/entry.html",
        entry=entry,
        app=entry.application,
        masked_name=mask_name(applicant.name),
        masked_id=mask_id_number(applicant.id_number),
        position=services.position(entry),
        calculating=services.joined_after_ranking(entry, services.current_ranking()),
        points=explain.explained_points(entry),
        group_text=explain.group_sentence(entry),
        history=[(ev, explain.event_sentence(ev, staff=True)) for ev in services.events_of(entry)],
        suspension=explain.suspension_sentences(entry)
        if entry.status is EntryStatus.SUSPENDED
        else [],
        removal=explain.removal_text(entry) if entry.status is EntryStatus.REMOVED else "",
        recorded=[explain.recorded_name(r) for r in services.recorded_reasons(entry)],
        can_act=services.can_act(user, entry),
        priority_form=forms.get("priority_form") or PriorityForm(formdata=None),
        sector_form=sector_form,
        decide_form=forms.get("decide_form") or DecideForm(formdata=None),
        action_form=ActionForm(formdata=None),
        today=today(),
    ), status


@bp.get("/staff/waitlist/entries/<int:entry_id>")
@allow(*STAFF)
def entry(entry_id: int):
    """One household on the list: place, points, history and the officer's actions."""
    return _entry_page(_load(entry_id))


@bp.post("/staff/waitlist/entries/<int:entry_id>/priority")
@allow(Role.OFFICER)
def record_priority(entry_id: int):
    item = _load_to_act(entry_id)
    form = PriorityForm()
    if not form.validate_on_submit():
        return _entry_page(item, 422, priority_form=form)
    try:
        services.record_priority_reason(item, _actor(), form.reason.data, form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _entry_page(item, exc.status, priority_form=form)
    flash(_("The reason is recorded; group and points are updated."), "success")
    return redirect(url_for("waitlist.entry", entry_id=item.id))


@bp.post("/staff/waitlist/entries/<int:entry_id>/sector")
@allow(Role.OFFICER)
def assign_sector(entry_id: int):
    item = _load_to_act(entry_id)
    form = SectorForm()
    if not form.validate_on_submit():
        return _entry_page(item, 422, sector_form=form)
    sector = Sector(form.sector.data) if form.sector.data else None
    try:
        services.assign_sector(item, _actor(), sector, form.note.data)
    except PortalError as exc:
        show_error(form, exc)
        return _entry_page(item, exc.status, sector_form=form)
    flash(_("The sector is recorded; group and points are updated."), "success")
    return redirect(url_for("waitlist.entry", entry_id=item.id))


@bp.post("/staff/waitlist/entries/<int:entry_id>/reverify")
@allow(Role.OFFICER)
def reverify(entry_id: int):
    item = _load_to_act(entry_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        outcome = services.reverify_now(item, _actor())
    except PortalError as exc:
        show_error(form, exc)
        return _entry_page(item, exc.status)
    flash(
        {
            "kept": _("Checked again: the household stays on the list."),
            "suspended": _("Checked again: the household no longer qualifies and is suspended."),
            "unanswered": _("A department did not answer; try again later."),
        }[outcome],
        "error" if outcome == "unanswered" else "success",
    )
    return redirect(url_for("waitlist.entry", entry_id=item.id))


@bp.post("/staff/waitlist/entries/<int:entry_id>/decision")
@allow(Role.OFFICER)
def decide(entry_id: int):
    item = _load_to_act(entry_id)
    form = DecideForm()
    if not form.validate_on_submit():
        return _entry_page(item, 422, decide_form=form)
    try:
        services.decide_objection(
            item, _actor(), restore=form.outcome.data == "restore", reason=form.reason.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _entry_page(item, exc.status, decide_form=form)
    if form.outcome.data == "restore":
        flash(_("The household is back on the list and is told."), "success")
    else:
        flash(_("The household is removed from the list and is told."), "success")
    return redirect(url_for("waitlist.objections"))

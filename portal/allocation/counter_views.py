"""Choosing units at the counter: an officer records a household's choice, refusal or no-show."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.accounts.forms import REQUIRED
from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.allocation import choosing
from portal.allocation.models import AllocationRound, EntrantStatus, RoundEntrant
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.housing.models import Unit
from portal.waitlist.services import applicant_of

bp = Blueprint("counter", __name__, url_prefix="/staff/rounds")


class ChoiceForm(FlaskForm):
    entrant_id = HiddenField(validators=[InputRequired(REQUIRED)])
    unit_id = IntegerField(_l("Unit"), [InputRequired(_l("Choose the unit the household takes."))])
    starts_on = DateField(
        _l("Lease starts on"),
        [Optional()],
        description=_l("Today if left empty; at most half a year ahead."),
    )


class CounterRefuseForm(FlaskForm):
    entrant_id = HiddenField(validators=[InputRequired(REQUIRED)])
    good_reason = BooleanField(
        _l("The reason is good (illness, disability, the units do not suit): not counted")
    )
    reason = TextAreaField(
        _l("Reason given by the household"),
        [InputRequired(REQUIRED), Length(max=choosing.REASON_MAX)],
    )


class EntrantActionForm(FlaskForm):
    """A button acting on one household: CSRF and which household."""

    entrant_id = HiddenField(validators=[InputRequired(REQUIRED)])


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""


@bp.app_template_global()
def choosing_progress(rnd: AllocationRound) -> choosing.Progress:
    """For the round page's counter panel: units let and left, households by state."""
    return choosing.progress(rnd)


def _officer() -> User:
    return current_user._get_current_object()


def _round(round_id: int) -> AllocationRound:
    officer = _officer()
    return load_in_scope(AllocationRound, round_id, choosing.round_scope(officer), officer)


def _entrant_of(rnd: AllocationRound, raw) -> RoundEntrant:
    """A household of this round (404 for any other)."""
    try:
        entrant = db.session.get(RoundEntrant, int(raw))
    except (TypeError, ValueError):
        entrant = None
    if entrant is None or entrant.round_id != rnd.id:
        abort(404)
    return entrant


def _page(
    rnd: AllocationRound,
    *,
    serving: RoundEntrant | None = None,
    choice_form: ChoiceForm | None = None,
    refuse_form: CounterRefuseForm | None = None,
    status: int = 200,
):
    invited = choosing.entrants_of(rnd, EntrantStatus.INVITED)
    if serving is None:
        serving = choosing.current_turn(rnd) or (invited[0] if invited else None)
    applicant = applicant_of(serving.entry.application) if serving else None
    return render_template(
        "allocation/counter_round.html",
        round=rnd,
        progress=choosing.progress(rnd),
        entrants=choosing.entrants_of(rnd),
        invited=invited,
        serving=serving,
        masked_id=applicant.masked_id_number if applicant else "",
        may_choose=choosing.may_choose(serving) if serving else False,
        choices=choosing.choices_for(serving) if serving else [],
        rule=choosing.size_rule(serving.household_size) if serving else None,
        choice_form=choice_form or ChoiceForm(formdata=None),
        refuse_form=refuse_form or CounterRefuseForm(formdata=None),
        action_form=ActionForm(),
        entrant_form=EntrantActionForm(formdata=None),
        today=today(),
        notice_days=int(choosing.rule_values()["results_notice_days"]),
    ), status


@bp.get("/<int:round_id>/counter")
@allow(Role.OFFICER)
def show(round_id: int):
    """The counter: the household being served, the units it may take, and the line."""
    rnd = _round(round_id)
    serving = _entrant_of(rnd, request.args["entrant"]) if request.args.get("entrant") else None
    return _page(rnd, serving=serving)


def _back(rnd: AllocationRound):
    return redirect(url_for("counter.show", round_id=rnd.id))


@bp.post("/<int:round_id>/counter/open")
@allow(Role.OFFICER)
def open_choosing(round_id: int):
    rnd = _round(round_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        choosing.open_choosing(rnd, _officer())
    except PortalError as exc:
        show_error(form, exc)
        return _page(_round(round_id), status=exc.status)
    flash(_("Choosing has started: the first households are invited."), "success")
    return _back(rnd)


@bp.post("/<int:round_id>/counter/choose")
@allow(Role.OFFICER)
def choose(round_id: int):
    rnd = _round(round_id)
    form = ChoiceForm()
    entrant = _entrant_of(rnd, form.entrant_id.data)
    if not form.validate_on_submit():
        return _page(rnd, serving=entrant, choice_form=form, status=422)
    unit = db.session.get(Unit, form.unit_id.data)
    if unit is None:
        abort(404)
    try:
        lease = choosing.choose_unit(entrant, unit, _officer(), starts_on=form.starts_on.data)
    except PortalError as exc:
        show_error(form, exc)
        return _page(_round(round_id), serving=entrant, choice_form=form, status=exc.status)
    flash(
        _(
            "Recorded: No. %(position)s takes %(unit)s. Lease %(reference)s from %(date)s.",
            position=entrant.position,
            unit=unit.label,
            reference=lease.reference,
            date=format_date(lease.starts_on),
        ),
        "success",
    )
    return _back(rnd)


@bp.post("/<int:round_id>/counter/refuse")
@allow(Role.OFFICER)
def refuse(round_id: int):
    rnd = _round(round_id)
    form = CounterRefuseForm()
    entrant = _entrant_of(rnd, form.entrant_id.data)
    if not form.validate_on_submit():
        return _page(rnd, serving=entrant, refuse_form=form, status=422)
    try:
        choosing.refuse(
            entrant, _officer(), good_reason=form.good_reason.data, reason=form.reason.data
        )
    except PortalError as exc:
        show_error(form, exc)
        return _page(_round(round_id), serving=entrant, refuse_form=form, status=exc.status)
    flash(
        _(
            "Refusal of No. %(position)s recorded; the next household is invited.",
            position=entrant.position,
        ),
        "success",
    )
    return _back(rnd)


@bp.post("/<int:round_id>/counter/no-show")
@allow(Role.OFFICER)
def no_show(round_id: int):
    rnd = _round(round_id)
    form = EntrantActionForm()
    entrant = _entrant_of(rnd, form.entrant_id.data)
    if not form.validate_on_submit():
        abort(400)
    try:
        choosing.no_show(entrant, _officer())
    except PortalError as exc:
        show_error(form, exc)
        return _page(_round(round_id), status=exc.status)
    flash(
        _("No. %(position)s did not come; the turn passes on.", position=entrant.position),
        "success",
    )
    return _back(rnd)


@bp.post("/<int:round_id>/counter/close")
@allow(Role.OFFICER)
def close(round_id: int):
    rnd = _round(round_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        choosing.close_round(rnd, _officer())
    except PortalError as exc:
        show_error(form, exc)
        return _page(_round(round_id), status=exc.status)
    flash(
        _(
            "The round is closed; its results are public until %(date)s.",
            date=format_date(rnd.notice_until),
        ),
        "success",
    )
    return _back(rnd)

"""Allocation rounds for officers and managers: draft, propose, approve or reject, draw,
assign in order, cancel. Choosing at the counter has its own views (``counter_views``)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.accounts.forms import REQUIRED
from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.allocation import services
from portal.allocation.models import AllocationRound, Method, RoundStatus
from portal.applications.models import Programme
from portal.core.access import allow
from portal.core.errors import PortalError
from portal.core.forms import MultiCheckboxField, choices, show_error
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.housing.models import Estate, Unit
from portal.waitlist.models import Group
from portal.waitlist.services import rule_values

bp = Blueprint("rounds", __name__, url_prefix="/staff/rounds")

STAFF = (Role.OFFICER, Role.MANAGER)
PAGE = 100  # entrants per page
UNITS_SHOWN = 500  # vacant units listed at once in the picker
ROUNDS_SHOWN = 200
ALLOCATED = (Programme.PUBLIC_RENTAL, Programme.AFFORDABLE_RENTAL)


# --- forms ---------------------------------------------------------------------------------


class RoundForm(FlaskForm):
    """A round's settings and units. Presence and shape only: the rules are the service's."""

    title = StringField(
        _l("Title"),
        [InputRequired(REQUIRED), Length(max=services.TITLE_MAX)],
        description=_l("Shown to the public, e.g. “2026 first round, Qixing estate”."),
    )
    programme = HiddenField(validators=[InputRequired(REQUIRED)])
    method = RadioField(
        _l("How the order is decided"),
        [InputRequired(REQUIRED)],
        choices=choices(Method),
        default=Method.LOTTERY.value,
    )
    groups = MultiCheckboxField(_l("Groups of households"), choices=choices(Group))
    sector_share = IntegerField(
        _l("Sector quota (percentage of the units)"),
        [InputRequired(REQUIRED), NumberRange(0, 100)],
        default=0,
        description=_l(
            "Sector-quota households (sanitation, transit, young doctors and teachers) choose "
            "first, for this share of the units. 0: no quota."
        ),
    )
    choose_days = IntegerField(
        _l("Days an invited household has to choose"),
        [InputRequired(REQUIRED), NumberRange(1, services.CHOOSE_DAYS_MAX)],
    )
    units = SelectMultipleField(coerce=int, validate_choice=False)


class DecisionForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        [InputRequired(REQUIRED)],
        choices=choices(
            [
                ("approve", _l("Approve: freeze the entrants and publish the round")),
                ("reject", _l("Reject: send it back, the units become vacant again")),
            ]
        ),
    )
    note = TextAreaField(
        _l("Note or reason"),
        [Optional(), Length(max=services.NOTE_MAX)],
        description=_l("Needed when rejecting: the officer receives it."),
    )


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Why is the round cancelled?"),
        [InputRequired(REQUIRED), Length(max=services.NOTE_MAX)],
    )


class ActionForm(FlaskForm):
    """A button that changes state: CSRF only."""


# --- helpers -----------------------------------------------------------------------------


def _actor() -> User:
    return current_user._get_current_object()


def _load(round_id: int) -> AllocationRound:
    user = _actor()
    return load_in_scope(AllocationRound, round_id, services.round_scope(user), user)


def _districts(user: User) -> list[District]:
    if user.role is Role.MANAGER:
        return list(db.session.scalars(sa.select(District).order_by(District.sort_order)))
    return sorted(user.districts, key=lambda d: (d.sort_order, d.id))


def _int_arg(name: str, default: int | None = None) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else default


# --- list ----------------------------------------------------------------------------------


@bp.get("/")
@allow(*STAFF)
def index():
    """The rounds of the user's districts (a manager's: all), newest first."""
    user = _actor()
    status = request.args.get("status") or None
    try:
        status = RoundStatus(status) if status else None
    except ValueError:
        status = None
    rounds = db.session.scalars(services.rounds_for(user, status).limit(ROUNDS_SHOWN)).all()
    return render_template(
        "allocation/index.html",
        rounds=rounds,
        status=status,
        statuses=list(RoundStatus),
        awaiting=len(services.awaiting_approval()) if user.role is Role.MANAGER else 0,
        can_create=bool(_districts(user)),
    )


@bp.get("/approvals")
@allow(Role.MANAGER)
def approvals():
    """Rounds awaiting a manager's approval, the oldest proposal first."""
    user = _actor()
    rounds = services.awaiting_approval()
    return render_template(
        "allocation/approvals.html",
        rounds=rounds,
        may_decide={r.id: services.may_decide(r, user) for r in rounds},
    )


# --- drafting ------------------------------------------------------------------------------


def _picker(district: District, programme: Programme, estate_id: int | None, selected=()):
    """The vacant units to pick from (of one estate if chosen), and the estates to filter
    by. Units already in the draft stay listed."""
    estates = db.session.scalars(
        sa.select(Estate)
        .where(Estate.district_id == district.id, Estate.programme == programme)
        .order_by(Estate.name)
    ).all()
    stmt = services.offerable_units(district.id, programme)
    if estate_id:
        stmt = stmt.where(Estate.id == estate_id)
    units = list(db.session.scalars(stmt.limit(UNITS_SHOWN + 1)))
    more = len(units) > UNITS_SHOWN
    units = units[:UNITS_SHOWN]
    listed = {u.id for u in units}
    missing = [i for i in selected if i not in listed]
    if missing:
        kept = sa.select(Unit).join(Estate, Estate.id == Unit.estate_id)
        kept = kept.where(Unit.id.in_(missing), Estate.district_id == district.id)
        units = list(db.session.scalars(kept)) + units
    return estates, units, more


def _form_page(form, district, programme, estate_id, rnd=None, status=200):
    user = _actor()
    estates, units, more = _picker(district, programme, estate_id, form.units.data or [])
    return render_template(
        "allocation/form.html",
        form=form,
        rnd=rnd,
        district=district,
        districts=_districts(user),
        programme=programme,
        programmes=ALLOCATED,
        estates=estates,
        estate_id=estate_id,
        units=units,
        more_units=more,
        selected=set(form.units.data or []),
    ), status


def _chosen_district(user: User) -> District | None:
    districts = _districts(user)
    code = request.args.get("district")
    if code:
        return next((d for d in districts if d.code == code), None) or abort(404)
    return districts[0] if len(districts) == 1 else None


def _programme_arg() -> Programme:
    try:
        programme = Programme(request.args.get("programme", Programme.PUBLIC_RENTAL.value))
    except ValueError:
        abort(404)
    if programme not in ALLOCATED:
        abort(404)
    return programme


def _settings(form: RoundForm) -> dict:
    return {
        "title": form.title.data,
        "programme": form.programme.data,
        "method": form.method.data,
        "groups": form.groups.data or [],
        "sector_share": form.sector_share.data,
        "choose_days": form.choose_days.data,
    }


@bp.route("/new", methods=["GET", "POST"])
@allow(*STAFF)
def new():
    """Draft a round: first the district, programme and estate to pick units from, then the
    settings and the units."""
    user = _actor()
    district = _chosen_district(user)
    programme = _programme_arg()
    if district is None:
        return render_template(
            "allocation/form.html",
            form=None,
            rnd=None,
            district=None,
            districts=_districts(user),
            programme=programme,
            programmes=ALLOCATED,
        )
    estate_id = _int_arg("estate")
    form = RoundForm()
    if not form.is_submitted():
        form.programme.data = programme.value
        form.choose_days.data = int(rule_values().get("choose_days", 3))
        form.groups.data = [g.value for g in Group]
    status = 200
    if form.validate_on_submit():
        try:
            rnd = services.create_round(
                user, district=district, unit_ids=form.units.data or [], **_settings(form)
            )
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(
                _(
                    "Round %(reference)s drafted. Check it, then propose it.",
                    reference=rnd.reference,
                ),
                "success",
            )
            return redirect(url_for("rounds.show", round_id=rnd.id))
    elif form.is_submitted():
        status = 422
    return _form_page(form, district, programme, estate_id, status=status)


@bp.route("/<int:round_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit(round_id: int):
    """Change a draft's settings and units."""
    user = _actor()
    rnd = _load(round_id)
    if rnd.status is not RoundStatus.DRAFT:
        flash(_("Only a draft can be changed."), "error")
        return redirect(url_for("rounds.show", round_id=rnd.id))
    form = RoundForm(obj=None)
    if not form.is_submitted():
        form.title.data = rnd.title
        form.programme.data = rnd.programme.value
        form.method.data = rnd.method.value
        form.groups.data = [g.value for g in rnd.group_list]
        form.sector_share.data = rnd.sector_share
        form.choose_days.data = rnd.choose_days
        form.units.data = [ru.unit_id for ru in rnd.units]
    status = 200
    if form.validate_on_submit():
        try:
            services.update_round(rnd, user, **_settings(form))
            services.set_units(rnd, user, form.units.data or [])
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
        else:
            flash(_("Round %(reference)s saved.", reference=rnd.reference), "success")
            return redirect(url_for("rounds.show", round_id=rnd.id))
    elif form.is_submitted():
        status = 422
    return _form_page(form, rnd.district, rnd.programme, _int_arg("estate"), rnd, status)


# --- the round page --------------------------------------------------------------------------


def _page(rnd: AllocationRound, status: int = 200, cancel_form=None):
    user = _actor()
    start = _int_arg("from", 1) or 1
    after = request.args.get("after", "")[:24]
    if rnd.ordered_at is not None:
        entrants, next_start = services.entrants_by_position(rnd, start, PAGE)
        next_url = (
            url_for("rounds.show", round_id=rnd.id, **{"from": next_start}) + "#entrants"
            if next_start
            else None
        )
    else:
        entrants, next_after = services.entrants_by_code(rnd, after, PAGE)
        next_url = (
            url_for("rounds.show", round_id=rnd.id, after=next_after) + "#entrants"
            if next_after
            else None
        )
    runner = services.can_run(user, rnd.district_id)
    return render_template(
        "allocation/round.html",
        round=rnd,
        units=services.round_units(rnd),
        entrants=entrants,
        next_url=next_url,
        first_url=url_for("rounds.show", round_id=rnd.id) + "#entrants"
        if (start > 1 or after)
        else None,
        history=services.history(rnd),
        event_titles=services.EVENT_TITLES,
        counts=services.status_counts(rnd),
        quota=services.quota_count(rnd) if rnd.entrant_count else None,
        runner=runner,
        may_decide=services.may_decide(rnd, user),
        cancellable=runner and rnd.status in services.CANCELLABLE,
        action_form=ActionForm(),
        cancel_form=cancel_form or CancelForm(formdata=None),
        public=rnd.status in services.PUBLIC_STATUSES or rnd.approved_at is not None,
    ), status


@bp.get("/<int:round_id>")
@allow(*STAFF)
def show(round_id: int):
    """A round: its settings, units, history, entrants and what may be done next."""
    return _page(_load(round_id))


def _act(round_id: int, step, success: str):
    rnd = _load(round_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        result = step(rnd, _actor())
    except PortalError as exc:
        show_error(form, exc)
        return _page(_load(round_id), exc.status)
    flash(success if isinstance(success, str) else success(result), "success")
    return redirect(url_for("rounds.show", round_id=round_id))


@bp.post("/<int:round_id>/propose")
@allow(*STAFF)
def propose(round_id: int):
    return _act(
        round_id,
        services.propose,
        _("Round proposed. Its units are offered in it; a manager decides on it now."),
    )


@bp.post("/<int:round_id>/draw")
@allow(*STAFF)
def draw(round_id: int):
    return _act(round_id, services.draw, _("The order is drawn and published."))


@bp.post("/<int:round_id>/allocate")
@allow(*STAFF)
def allocate(round_id: int):
    return _act(
        round_id,
        services.allocate_in_order,
        lambda n: ngettext(
            "%(num)d household was offered a unit, in the drawn order.",
            "%(num)d households were offered a unit, in the drawn order.",
            n,
        ),
    )


@bp.post("/<int:round_id>/cancel")
@allow(*STAFF)
def cancel(round_id: int):
    rnd = _load(round_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            services.cancel(rnd, _actor(), form.reason.data)
        except PortalError as exc:
            show_error(form, exc)
            return _page(_load(round_id), exc.status, form)
        flash(_("Round %(reference)s cancelled.", reference=rnd.reference), "success")
        return redirect(url_for("rounds.show", round_id=round_id))
    return _page(rnd, 422, form)


# --- the manager's decision --------------------------------------------------------------------


@bp.route("/<int:round_id>/decision", methods=["GET", "POST"])
@allow(Role.MANAGER)
def decide(round_id: int):
    """Approve or reject a proposed round (not the manager who drafted or proposed it)."""
    user = _actor()
    rnd = _load(round_id)
    form = DecisionForm()
    status = 200
    if form.validate_on_submit():
        try:
            if form.decision.data == "approve":
                services.approve(rnd, user, form.note.data)
                flash(
                    ngettext(
                        "Round approved: %(num)d household entered; the round is published.",
                        "Round approved: %(num)d households entered; the round is published.",
                        rnd.entrant_count,
                    ),
                    "success",
                )
            else:
                services.reject(rnd, user, form.note.data)
                flash(_("Round rejected. The officer is told."), "success")
        except PortalError as exc:
            show_error(form, exc)
            status = exc.status
            rnd = _load(round_id)
        else:
            return redirect(url_for("rounds.show", round_id=round_id))
    elif form.is_submitted():
        status = 422
    return render_template(
        "allocation/decision.html",
        round=rnd,
        form=form,
        units=services.round_units(rnd),
        quota=None,
        may_decide=services.may_decide(rnd, user),
    ), status

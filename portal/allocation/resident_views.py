"""A household's invitation: choose a unit, refuse, see the lease."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.accounts.forms import REQUIRED
from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.allocation import choosing
from portal.allocation.models import RoundEntrant
from portal.core.access import allow
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.housing.models import Unit
from portal.tenancy.services import lease_for

bp = Blueprint("choose", __name__, url_prefix="/my/rounds")


class UnitForm(FlaskForm):
    """Which unit: the first step shows it for confirmation, the second takes it."""

    unit_id = IntegerField(validators=[InputRequired(REQUIRED)])


class RefuseForm(FlaskForm):
    reason = TextAreaField(
        _l("Why do you refuse?"),
        [InputRequired(REQUIRED), Length(max=choosing.REASON_MAX)],
        description=_l(
            "A refusal without good reason counts against your household; too many take it "
            "off the waiting list. The housing office may accept a good reason (an illness, a "
            "disability the units do not suit) at its counter."
        ),
    )


def _resident() -> User:
    return current_user._get_current_object()


def _entrant(entrant_id: int) -> RoundEntrant:
    user = _resident()
    return load_in_scope(RoundEntrant, entrant_id, choosing.household_scope(user), user)


def _offered_unit(entrant: RoundEntrant, unit_id: int | None) -> Unit:
    """A unit left in the entrant's round (404 for any other)."""
    unit = next((u for u in choosing.remaining_units(entrant.round) if u.id == unit_id), None)
    if unit is None:
        abort(404)
    return unit


def _index(refuse_form: RefuseForm | None = None, refuse_for: int | None = None, status=200):
    user = _resident()
    rows = []
    for entrant in choosing.invitations_for(user):
        rnd = entrant.round
        my_turn = choosing.may_choose(entrant)
        rows.append(
            {
                "entrant": entrant,
                "round": rnd,
                "turn": choosing.current_turn(rnd) if rnd.status.value == "choosing" else None,
                "my_turn": my_turn,
                "units": choosing.fitting_units(rnd, entrant) if my_turn else [],
                "rule": choosing.size_rule(entrant.household_size),
                "lease": choosing.lease_of(entrant),
            }
        )
    return render_template(
        "allocation/choose_index.html",
        rows=rows,
        lease=lease_for(user),
        unit_form=UnitForm(formdata=None),
        refuse_form=refuse_form or RefuseForm(formdata=None),
        refuse_for=refuse_for,
        max_refusals=int(choosing.rule_values()["max_refusals"]),
    ), status


@bp.get("/")
@allow(Role.RESIDENT)
def index():
    """The household's invitations: its place, whose turn it is, and the units it may take."""
    return _index()


@bp.post("/<int:entrant_id>/confirm")
@allow(Role.RESIDENT)
def confirm(entrant_id: int):
    """The confirmation step: the unit once more, with what taking it means. Changes nothing."""
    entrant = _entrant(entrant_id)
    form = UnitForm()
    if not form.validate_on_submit():
        abort(400)
    unit = _offered_unit(entrant, form.unit_id.data)
    if not choosing.may_choose(entrant):
        flash(_("It is not your turn to choose in this round."), "error")
        return redirect(url_for("choose.index"))
    if not choosing.fits(unit, entrant):
        flash(str(choosing.size_rule(entrant.household_size)), "error")
        return redirect(url_for("choose.index"))
    return render_template(
        "allocation/choose_confirm.html",
        entrant=entrant,
        unit=unit,
        form=UnitForm(formdata=None, unit_id=unit.id),
        lease_years=int(choosing.rule_values()["lease_years"]),
    )


@bp.post("/<int:entrant_id>/choose")
@allow(Role.RESIDENT)
def choose(entrant_id: int):
    entrant = _entrant(entrant_id)
    form = UnitForm()
    if not form.validate_on_submit():
        abort(400)
    unit = db.session.get(Unit, form.unit_id.data)
    if unit is None:
        abort(404)
    try:
        lease = choosing.choose_unit(entrant, unit, _resident())
    except PortalError as exc:
        show_error(form, exc)
        return _index(status=exc.status)
    flash(
        _(
            "You chose unit %(unit)s. Your lease %(reference)s starts on %(date)s.",
            unit=unit.label,
            reference=lease.reference,
            date=format_date(lease.starts_on),
        ),
        "success",
    )
    return redirect(url_for("choose.lease"))


@bp.post("/<int:entrant_id>/refuse")
@allow(Role.RESIDENT)
def refuse(entrant_id: int):
    entrant = _entrant(entrant_id)
    form = RefuseForm()
    if not form.validate_on_submit():
        return _index(form, entrant.id, 422)
    try:
        choosing.refuse(entrant, _resident(), reason=form.reason.data)
    except PortalError as exc:
        show_error(form, exc)
        return _index(form, entrant.id, exc.status)
    flash(
        _("Your refusal is recorded. Your household keeps its place in the waiting list."),
        "success",
    )
    return redirect(url_for("choose.index"))


@bp.get("/lease")
@allow(Role.RESIDENT)
def lease():
    """The household's lease in force: unit, address, term and rent."""
    return render_template("tenancy/lease.html", lease=lease_for(_resident()))


@bp.app_context_processor
def _resident_housing():
    """``resident_housing()`` for the resident's start page: their place on the waiting list,
    open invitations and lease; runs only when called."""

    def resident_housing() -> dict:
        from portal.waitlist import services as waitlist

        user = _resident()
        entry = waitlist.entry_of_resident(user)
        open_invitations = [
            e for e in choosing.invitations_for(user) if e.round.status.value == "choosing"
        ]
        return {
            "entry": entry,
            "position": waitlist.position(entry) if entry is not None else None,
            "invitations": open_invitations,
            "lease": lease_for(user),
        }

    return {"resident_housing": resident_housing}

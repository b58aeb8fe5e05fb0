"""JSON API for invited households: invitations, choosing a unit, refusing, the lease.

The same services as the pages (``portal.allocation.choosing``). A resident sees only the
invitations of the applications they made; any other answers 404.
"""

from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.allocation import choosing
from portal.allocation.models import RoundEntrant
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.housing.models import Unit
from portal.tenancy.models import Lease
from portal.tenancy.services import lease_for

blp = Blueprint(
    "api_choosing",
    __name__,
    description="Residents: invitations to choose a unit (选房), refusals and the lease",
)

blueprints = [blp]

BEARER = [{"bearerAuth": []}]


class InvitationRoundSchema(Schema):
    id = Int(required=True)
    reference = fields.String(required=True, metadata={"example": "R2026-0001"})
    title = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "ordered, choosing, closed"})


class ChoosableUnitSchema(Schema):
    id = Int(required=True)
    estate = fields.String(required=True)
    address = fields.String(required=True)
    building = fields.String(required=True)
    number = fields.String(required=True)
    floor = Int(required=True)
    area = fields.Decimal(required=True, as_string=True, metadata={"description": "m²"})
    rooms = Int(required=True)
    accessible = fields.Boolean(required=True)
    rent = fields.Decimal(required=True, as_string=True, metadata={"description": "yuan a month"})


class InvitationSchema(Schema):
    id = Int(required=True)
    round = fields.Nested(InvitationRoundSchema, required=True)
    position = Int(required=True, metadata={"description": "1 chooses first"})
    status = fields.String(
        required=True,
        metadata={"description": "waiting, invited, chosen, refused, no_show, not_reached"},
    )
    household_size = Int(required=True)
    respond_by = fields.Date(allow_none=True, metadata={"description": "choose by this day"})
    my_turn = fields.Boolean(required=True, metadata={"description": "may choose now"})
    choosing_now = Int(
        allow_none=True, metadata={"description": "position of the household choosing now"}
    )
    unit = fields.Nested(
        ChoosableUnitSchema,
        allow_none=True,
        metadata={"description": "the unit chosen, or offered to the household"},
    )
    size_rule = fields.String(required=True, metadata={"description": "which units fit"})
    lease = fields.String(allow_none=True, metadata={"description": "lease reference"})


class LeaseSchema(Schema):
    reference = fields.String(required=True, metadata={"example": "L2026000001"})
    status = fields.String(required=True, metadata={"description": "active or ended"})
    unit = fields.Nested(ChoosableUnitSchema, required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    monthly_rent = fields.Decimal(required=True, as_string=True)
    tenant = fields.String(required=True)


class ChooseUnitRequest(Schema):
    unit_id = Int(required=True)


class RefusalRequest(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(max=choosing.REASON_MAX),
        metadata={"description": "why the household refuses; counts as without good reason"},
    )


def _unit(u: Unit | None) -> dict | None:
    if u is None:
        return None
    return {
        "id": u.id,
        "estate": u.estate.name,
        "address": u.estate.address,
        "building": u.building.name,
        "number": u.number,
        "floor": u.floor,
        "area": u.area,
        "rooms": u.rooms,
        "accessible": u.accessible,
        "rent": u.rent,
    }


def _invitation(e: RoundEntrant) -> dict:
    rnd = e.round
    turn = choosing.current_turn(rnd) if rnd.status.value == "choosing" else None
    lease = choosing.lease_of(e)
    return {
        "id": e.id,
        "round": {
            "id": rnd.id,
            "reference": rnd.reference,
            "title": rnd.title,
            "status": rnd.status.value,
        },
        "position": e.position,
        "status": e.status.value,
        "household_size": e.household_size,
        "respond_by": e.respond_by if e.status.value == "invited" else None,
        "my_turn": choosing.may_choose(e),
        "choosing_now": turn.position if turn else None,
        "unit": _unit(e.unit),
        "size_rule": str(choosing.size_rule(e.household_size)),
        "lease": lease.reference if lease else None,
    }


def _lease(lease: Lease) -> dict:
    return {
        "reference": lease.reference,
        "status": lease.status.value,
        "unit": _unit(lease.unit),
        "starts_on": lease.starts_on,
        "ends_on": lease.ends_on,
        "monthly_rent": lease.monthly_rent,
        "tenant": lease.tenant.real_name,
    }


def _entrant(entrant_id: int) -> RoundEntrant:
    user = api_user()
    return load_in_scope(RoundEntrant, entrant_id, choosing.household_scope(user), user)


@blp.route("/me/invitations")
@blp.response(200, InvitationSchema(many=True))
@blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def list_invitations():
    """Your household's places in allocation rounds, the newest round first."""
    return [_invitation(e) for e in choosing.invitations_for(api_user())]


@blp.route("/me/invitations/<int:entrant_id>/units")
@blp.response(200, ChoosableUnitSchema(many=True))
@blp.alt_response(404, description="No such invitation of yours")
@blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def list_units(entrant_id: int):
    """The units you may take now: on your turn every unit left that suits your household's
    size, or the unit offered to you; empty when it is not your turn."""
    return [_unit(u) for u in choosing.choices_for(_entrant(entrant_id))]


@blp.route("/me/invitations/<int:entrant_id>/choose", methods=["POST"])
@blp.arguments(ChooseUnitRequest)
@blp.response(201, LeaseSchema)
@blp.alt_response(404, description="No such invitation of yours, or no such unit")
@blp.alt_response(409, description="The unit is taken, or it is not your turn")
@blp.alt_response(422, description="The unit does not suit your household's size")
@blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def choose(body: dict, entrant_id: int):
    """Take a unit: the lease is made at once, starting today."""
    entrant = _entrant(entrant_id)
    unit = db.session.get(Unit, body["unit_id"])
    if unit is None:
        abort(404)
    return _lease(choosing.choose_unit(entrant, unit, api_user()))


@blp.route("/me/invitations/<int:entrant_id>/refuse", methods=["POST"])
@blp.arguments(RefusalRequest)
@blp.response(200, InvitationSchema)
@blp.alt_response(404, description="No such invitation of yours")
@blp.alt_response(409, description="The invitation is over")
@blp.alt_response(422, description="No reason given")
@blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def refuse(body: dict, entrant_id: int):
    """Refuse the round's units. Counted as a refusal without good reason (the housing
    office may accept a good reason at its counter); the next household is invited."""
    entrant = choosing.refuse(_entrant(entrant_id), api_user(), reason=body["reason"])
    return _invitation(entrant)


@blp.route("/me/lease")
@blp.response(200, LeaseSchema)
@blp.alt_response(404, description="No lease in force")
@blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_lease():
    """Your household's lease in force."""
    lease = lease_for(api_user())
    if lease is None:
        abort(404)
    return _lease(lease)

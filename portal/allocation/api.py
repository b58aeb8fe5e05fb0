"""JSON API of this domain (flask-smorest); the same services as the pages.

Public: published rounds, their inputs and results, and the lottery's verification computed
from the published data. Staff (bearer tokens): propose a round (its officer or a manager),
approve or reject it (a manager who neither drafted nor proposed it), draw the order.
"""

from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.allocation import services
from portal.allocation.models import AllocationRound
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope

public_blp = Blueprint(
    "api_rounds", __name__, description="Allocation rounds (配租批次) and the verifiable lottery"
)
staff_blp = Blueprint(
    "api_staff_rounds",
    __name__,
    description="Officers and managers: propose, approve or reject, and draw allocation rounds",
)

blueprints = [public_blp, staff_blp]

BEARER = [{"bearerAuth": []}]


class AllocationRoundSchema(Schema):
    reference = fields.String(required=True, metadata={"example": "R2026-0001"})
    title = fields.String(required=True)
    district = fields.String(required=True, metadata={"description": "division code"})
    district_name = fields.String(required=True)
    programme = fields.String(required=True)
    programme_title = fields.String(required=True)
    method = fields.String(required=True, metadata={"description": "rank or lottery"})
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    groups = fields.List(fields.String(), required=True)
    sector_share = Int(required=True, metadata={"description": "percent of units"})
    entrant_count = Int(required=True)
    approved_at = fields.DateTime(allow_none=True)
    ordered_at = fields.DateTime(allow_none=True)
    notice_until = fields.Date(
        allow_none=True, metadata={"description": "results in public notice until"}
    )


class OfferedUnitSchema(Schema):
    estate = fields.String(required=True)
    building = fields.String(required=True)
    number = fields.String(required=True)
    area = fields.Decimal(required=True, as_string=True, metadata={"example": "45.50"})
    rooms = Int(required=True)
    accessible = fields.Boolean(required=True)


class DrawResultSchema(Schema):
    code = fields.String(required=True)
    position = Int(allow_none=True)
    draw = fields.String(allow_none=True, metadata={"description": "HMAC-SHA256(seed, code)"})
    unit = fields.String(allow_none=True, metadata={"description": "the unit given, if any"})
    group = fields.String(required=True)
    sector = fields.Boolean(required=True)
    status = fields.String(required=True)


class DrawEntrantSchema(Schema):
    code = fields.String(required=True)
    sector = fields.Boolean(required=True, metadata={"description": "in the sector quota"})


class AllocationRoundDetailSchema(AllocationRoundSchema):
    seed_hash = fields.String(allow_none=True, metadata={"description": "SHA-256 of the seed"})
    entrants_hash = fields.String(
        allow_none=True, metadata={"description": "SHA-256 of the canonical entrant list"}
    )
    seed = fields.String(allow_none=True, metadata={"description": "revealed at the draw"})
    quota_count = Int(required=True)
    units = fields.List(fields.Nested(OfferedUnitSchema), required=True)
    entrants = fields.List(fields.Nested(DrawEntrantSchema), required=True)
    results = fields.List(fields.Nested(DrawResultSchema), required=True)


class LotteryCheckSchema(Schema):
    name = fields.String(required=True, metadata={"example": "seed_hash"})
    title = fields.String(required=True)
    passed = fields.Boolean(required=True)
    expected = fields.String(required=True)
    actual = fields.String(required=True)


class LotteryVerificationSchema(Schema):
    reference = fields.String(required=True)
    verified = fields.Boolean(
        required=True, metadata={"description": "every check passed (false before the draw)"}
    )
    checks = fields.List(fields.Nested(LotteryCheckSchema), required=True)


class RoundDecisionRequest(Schema):
    note = fields.String(
        load_default=None,
        validate=validate.Length(max=services.NOTE_MAX),
        metadata={"description": "approval: optional note; rejection: the reason (required)"},
    )


class StaffAllocationRoundSchema(AllocationRoundSchema):
    id = Int(required=True)


def _round(rnd: AllocationRound) -> dict:
    return {
        "reference": rnd.reference,
        "title": rnd.title,
        "district": rnd.district.code,
        "district_name": rnd.district.name(current_locale()),
        "programme": rnd.programme.value,
        "programme_title": str(rnd.programme.label),
        "method": rnd.method.value,
        "status": rnd.status.value,
        "status_title": str(rnd.status.label),
        "groups": [g.value for g in rnd.group_list],
        "sector_share": rnd.sector_share,
        "entrant_count": rnd.entrant_count,
        "approved_at": rnd.approved_at,
        "ordered_at": rnd.ordered_at,
        "notice_until": rnd.notice_until,
    }


def _published(reference: str) -> AllocationRound:
    rnd = services.published_round(reference)
    if rnd is None:
        abort(404)
    return rnd


# --- public ------------------------------------------------------------------------------


@public_blp.route("/rounds")
@public_blp.response(200, AllocationRoundSchema(many=True))
@api_access(public=True)
def list_rounds():
    """Published rounds (approved onwards), the newest first."""
    return [_round(r) for r in services.public_rounds()]


@public_blp.route("/rounds/<reference>")
@public_blp.response(200, AllocationRoundDetailSchema)
@public_blp.alt_response(404, description="No such published round")
@api_access(public=True)
def get_round(reference: str):
    """A published round: its units, the inputs published before the draw and, after it,
    the seed and every household's result (codes only, no names)."""
    rnd = _published(reference)
    return {
        **_round(rnd),
        "seed_hash": rnd.seed_hash,
        "entrants_hash": rnd.entrants_hash,
        "seed": rnd.published_seed,
        "quota_count": services.quota_count(rnd),
        "units": [
            {
                "estate": u.estate.name,
                "building": u.building.name,
                "number": u.number,
                "area": u.area,
                "rooms": u.rooms,
                "accessible": u.accessible,
            }
            for u in services.round_units(rnd)
        ],
        "entrants": [{"code": c, "sector": s} for c, s in sorted(services.entrant_pairs(rnd))],
        "results": list(services.result_rows(rnd)) if rnd.ordered_at else [],
    }


@public_blp.route("/rounds/<reference>/verification")
@public_blp.response(200, LotteryVerificationSchema)
@public_blp.alt_response(404, description="No such published round")
@api_access(public=True)
def get_verification(reference: str):
    """The lottery's checks, computed now from the published data (none before the draw or
    for a round ordered by queue rank)."""
    rnd = _published(reference)
    checks = services.verification(rnd)
    return {
        "reference": rnd.reference,
        "verified": bool(checks) and all(c.passed for c in checks),
        "checks": [
            {
                "name": c.name,
                "title": services.check_title(c.name),
                "passed": c.passed,
                "expected": c.expected,
                "actual": c.actual,
            }
            for c in checks
        ],
    }


# --- staff -------------------------------------------------------------------------------


def _staff_round(round_id: int) -> AllocationRound:
    user = api_user()
    return load_in_scope(AllocationRound, round_id, services.round_scope(user), user)


def _staff(rnd: AllocationRound) -> dict:
    return {**_round(rnd), "id": rnd.id}


@staff_blp.route("/staff/rounds/<int:round_id>/proposal", methods=["POST"])
@staff_blp.response(200, StaffAllocationRoundSchema)
@staff_blp.alt_response(404, description="No such round in your districts")
@staff_blp.alt_response(409, description="Not a draft, or a unit is no longer vacant")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def propose_round(round_id: int):
    """Propose a draft for approval; its units are offered in the round."""
    return _staff(services.propose(_staff_round(round_id), api_user()))


@staff_blp.route("/staff/rounds/<int:round_id>/approval", methods=["POST"])
@staff_blp.arguments(RoundDecisionRequest)
@staff_blp.response(200, StaffAllocationRoundSchema)
@staff_blp.alt_response(403, description="Not a manager")
@staff_blp.alt_response(409, description="You drafted or proposed it, or not proposed")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def approve_round(body: dict, round_id: int):
    """Approve a proposed round: the entrants are frozen and the hashes published."""
    return _staff(services.approve(_staff_round(round_id), api_user(), body.get("note")))


@staff_blp.route("/staff/rounds/<int:round_id>/rejection", methods=["POST"])
@staff_blp.arguments(RoundDecisionRequest)
@staff_blp.response(200, StaffAllocationRoundSchema)
@staff_blp.alt_response(403, description="Not a manager")
@staff_blp.alt_response(409, description="You drafted or proposed it, or not proposed")
@staff_blp.alt_response(422, description="No reason given")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def reject_round(body: dict, round_id: int):
    """Reject a proposed round; its units are vacant again."""
    return _staff(services.reject(_staff_round(round_id), api_user(), body.get("note") or ""))


@staff_blp.route("/staff/rounds/<int:round_id>/draw", methods=["POST"])
@staff_blp.response(200, StaffAllocationRoundSchema)
@staff_blp.alt_response(404, description="No such round in your districts")
@staff_blp.alt_response(409, description="Not approved, or already drawn")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def draw_round(round_id: int):
    """Draw the order: by lottery (the seed is revealed) or by queue rank."""
    return _staff(services.draw(_staff_round(round_id), api_user()))

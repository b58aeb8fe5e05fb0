"""JSON API of the waiting list (flask-smorest); the same services as the pages.

A resident reads their own household's place, points and history (sentences in the language
asked for with ``Accept-Language``); housing officers and managers read the city-wide list a
page at a time, with names and ID numbers masked.
"""

from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.applications.models import Programme
from portal.core.access import api_access
from portal.waitlist import explain, services
from portal.waitlist.models import EntryStatus, Group, QueueEntry

resident_blp = Blueprint(
    "api_waitlist", __name__, description="A resident's place on the waiting list (轮候)"
)
staff_blp = Blueprint(
    "api_staff_waitlist",
    __name__,
    description="Housing officers and managers: the waiting list, page by page",
)

blueprints = [resident_blp, staff_blp]

BEARER = [{"bearerAuth": []}]
QUEUED = [p.value for p in services.QUEUED_PROGRAMMES]


class PositionSchema(Schema):
    rank = Int(required=True, metadata={"description": "1 is next in the programme"})
    group_rank = Int(required=True)
    ahead_in_group = Int(required=True)
    waiting_total = Int(required=True)
    group_total = Int(required=True)
    ranked_at = fields.DateTime(required=True, metadata={"description": "as of"})
    estimated_months = Int(
        allow_none=True,
        metadata={"description": "null: no household was housed in the last year to go by"},
    )


class PointSchema(Schema):
    category = fields.String(
        required=True, metadata={"description": "priority, age, household, minors, waited, cap"}
    )
    title = fields.String(required=True)
    code = fields.String(required=True)
    points = Int(required=True)
    counted = fields.Boolean(
        required=True,
        metadata={"description": "false: a lower item of a category that counts once"},
    )
    text = fields.String(required=True, metadata={"description": "the reason, as a sentence"})


class HistorySchema(Schema):
    at = fields.DateTime(required=True)
    kind = fields.String(required=True)
    text = fields.String(required=True)


class MyEntrySchema(Schema):
    reference = fields.String(required=True)
    programme = fields.String(required=True, validate=validate.OneOf(QUEUED))
    programme_title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in EntryStatus]))
    status_title = fields.String(required=True)
    group = fields.String(required=True, validate=validate.OneOf([g.value for g in Group]))
    group_title = fields.String(required=True)
    group_reason = fields.String(required=True)
    qualified_on = fields.Date(required=True)
    next_verification_on = fields.Date(required=True)
    points = Int(required=True)
    point_items = fields.List(fields.Nested(PointSchema), required=True)
    position = fields.Nested(
        PositionSchema, allow_none=True, metadata={"description": "null unless waiting and ranked"}
    )
    calculating = fields.Boolean(
        required=True, metadata={"description": "joined after the last ranking: place follows"}
    )
    suspension = fields.List(
        fields.String(), required=True, metadata={"description": "why, when suspended"}
    )
    object_by = fields.Date(allow_none=True, metadata={"description": "last day to object"})
    can_object = fields.Boolean(required=True)
    history = fields.List(fields.Nested(HistorySchema), required=True)


class ListingQuery(Schema):
    page = Int(load_default=1, validate=validate.Range(min=1))
    group = fields.String(load_default=None, validate=validate.OneOf([g.value for g in Group]))


class ListingRowSchema(Schema):
    rank = Int(required=True)
    group_rank = Int(required=True)
    group = fields.String(required=True)
    entry_id = Int(required=True, metadata={"description": "the queue entry"})
    masked_name = fields.String(required=True, metadata={"example": "张*"})
    masked_id = fields.String(required=True, metadata={"example": "4503**********1232"})
    household_size = Int(required=True)
    qualified_on = fields.Date(required=True)
    points = Int(required=True)


class ListingSchema(Schema):
    programme = fields.String(required=True)
    group = fields.String(allow_none=True)
    page = Int(required=True)
    pages = Int(required=True)
    total = Int(required=True)
    ranked_at = fields.DateTime(allow_none=True)
    rows = fields.List(fields.Nested(ListingRowSchema), required=True)


def _position(pos: services.Position | None) -> dict | None:
    if pos is None:
        return None
    return {
        "rank": pos.rank,
        "group_rank": pos.group_rank,
        "ahead_in_group": pos.ahead_in_group,
        "waiting_total": pos.waiting_total,
        "group_total": pos.group_total,
        "ranked_at": pos.ranked_at,
        "estimated_months": pos.estimated_months,
    }


def entry_document(entry: QueueEntry) -> dict:
    """The resident's view of their entry, sentences in the request's language."""
    suspended = entry.status is EntryStatus.SUSPENDED
    return {
        "reference": entry.application.reference,
        "programme": entry.programme.value,
        "programme_title": str(entry.programme.label),
        "status": entry.status.value,
        "status_title": str(entry.status.label),
        "group": entry.group.value,
        "group_title": str(entry.group.label),
        "group_reason": explain.group_sentence(entry),
        "qualified_on": entry.qualified_on,
        "next_verification_on": entry.next_verification_on,
        "points": entry.points,
        "point_items": explain.explained_points(entry),
        "position": _position(services.position(entry)),
        "calculating": services.joined_after_ranking(entry, services.current_ranking()),
        "suspension": explain.suspension_sentences(entry) if suspended else [],
        "object_by": entry.object_by if suspended else None,
        "can_object": services.can_object(entry),
        "history": [
            {"at": ev.at, "kind": ev.kind, "text": explain.event_sentence(ev)}
            for ev in services.events_of(entry)
        ],
    }


@resident_blp.route("/waitlist/me")
@resident_blp.response(200, MyEntrySchema)
@resident_blp.alt_response(404, description="Your household is not on the waiting list")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_entry():
    """Your household's place on the waiting list, its points with their reasons and its
    history."""
    entry = services.entry_of_resident(api_user())
    if entry is None:
        abort(404)
    return entry_document(entry)


@staff_blp.route("/waitlist/<programme>")
@staff_blp.arguments(ListingQuery, location="query")
@staff_blp.response(200, ListingSchema)
@staff_blp.alt_response(404, description="No waiting list for this programme")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def listing(query: dict, programme: str):
    """One page (50 households) of a programme's list in queue order; any page directly.
    ``group`` limits it to one priority group."""
    if programme not in QUEUED:
        abort(404)
    group = Group(query["group"]) if query.get("group") else None
    result = services.listing(Programme(programme), query["page"], group)
    return {
        "programme": programme,
        "group": group.value if group else None,
        "page": result.page,
        "pages": result.pages,
        "total": result.total,
        "ranked_at": result.ranked_at,
        "rows": [
            {
                "rank": r.rank,
                "group_rank": r.group_rank,
                "group": r.group.value,
                "entry_id": r.entry_id,
                "masked_name": r.masked_name,
                "masked_id": r.masked_id,
                "household_size": r.household_size,
                "qualified_on": r.qualified_on,
                "points": r.points,
            }
            for r in result.rows
        ],
    }

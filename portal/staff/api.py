"""JSON API of the officer's workbench (flask-smorest): the same queues as the page
(``portal/staff/workbench.py``), titles in the language asked for (Accept-Language)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.core.access import api_access
from portal.core.clock import today
from portal.staff.workbench import Item, Queue, officer_queues

blp = Blueprint(
    "api_staff_workbench",
    __name__,
    description="Officers: their work queues and deadlines, within their districts",
)

blueprints: list = [blp]

BEARER = [{"bearerAuth": []}]


class WorkbenchItemSchema(Schema):
    reference = fields.String(required=True, metadata={"example": "GL2026000123"})
    label = fields.String(required=True, metadata={"description": "what waits"})
    note = fields.String(allow_none=True, metadata={"description": "a detail of it"})
    district = fields.String(required=True)
    deadline = fields.Date(allow_none=True, metadata={"description": "null: no deadline"})
    overdue = fields.Boolean(required=True)
    url = fields.String(required=True, metadata={"description": "the item's page (a path)"})


class WorkbenchQueueSchema(Schema):
    key = fields.String(required=True, metadata={"example": "applications"})
    title = fields.String(required=True)
    count = fields.Integer(required=True)
    overdue = fields.Integer(required=True, metadata={"description": "past their deadline"})
    next_deadline = fields.Date(
        allow_none=True, metadata={"description": "the earliest deadline, passed or not"}
    )
    url = fields.String(required=True, metadata={"description": "the list page (a path)"})
    items = fields.List(
        fields.Nested(WorkbenchItemSchema),
        required=True,
        metadata={"description": "up to five, the nearest deadline first"},
    )


class WorkbenchSchema(Schema):
    today = fields.Date(required=True)
    queues = fields.List(fields.Nested(WorkbenchQueueSchema), required=True)


def _item(item: Item) -> dict:
    return {
        "reference": item.reference,
        "label": item.label,
        "note": item.note,
        "district": item.district,
        "deadline": item.deadline,
        "overdue": item.overdue,
        "url": item.url,
    }


def _queue(queue: Queue) -> dict:
    return {
        "key": queue.key,
        "title": str(queue.title),
        "count": queue.count,
        "overdue": queue.overdue,
        "next_deadline": queue.next_deadline,
        "url": queue.link.url,
        "items": [_item(i) for i in queue.items],
    }


@blp.route("/staff/workbench")
@blp.response(200, WorkbenchSchema)
@blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def workbench():
    """Your queues (applications to decide, documents awaited, objections, rounds, reviews,
    exits, arrears, spot checks): counts, overdue counts, the nearest deadline and the five
    most urgent items of each, within your districts."""
    on = today()
    return {"today": on, "queues": [_queue(q) for q in officer_queues(api_user(), on)]}

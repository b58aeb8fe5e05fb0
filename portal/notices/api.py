"""JSON API of this domain (flask-smorest); the same services as the pages.

Public: running notices and any notice's masked entries. Any signed-in user (a bearer token
of a resident or staff member) may object. Officers publish, close and answer objections,
within their districts only.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.models import District
from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.applications.models import Programme
from portal.core.access import api_access
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.notices import services
from portal.notices.models import Notice, NoticeEntry, Objection

public_blp = Blueprint(
    "api_notices", __name__, description="Public notices (公示) and objections (异议)"
)
officer_blp = Blueprint(
    "api_officer_notices",
    __name__,
    description="Housing officers: publish notices, answer objections, close notices",
)

blueprints = [public_blp, officer_blp]

BEARER = [{"bearerAuth": []}]


class NoticeSchema(Schema):
    id = Int(required=True)
    district = fields.String(required=True, metadata={"description": "division code"})
    district_name = fields.String(required=True)
    programme = fields.String(required=True)
    programme_title = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open or closed"})
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True, metadata={"description": "last day for objections"})
    households = Int(required=True)


class EntrySchema(Schema):
    id = Int(required=True)
    reference = fields.String(required=True)
    masked_name = fields.String(required=True, metadata={"example": "张*"})
    masked_id = fields.String(required=True, metadata={"example": "4503**********1232"})
    household_size = Int(required=True)
    withdrawn = fields.Boolean(
        required=True, metadata={"description": "taken off this notice after an objection"}
    )
    open_to_objection = fields.Boolean(required=True)


class NoticeDetailSchema(NoticeSchema):
    objection_working_days = Int(
        required=True, metadata={"description": "objections are answered within this time"}
    )
    entries = fields.List(fields.Nested(EntrySchema), required=True)


class ClosedNoticeSchema(NoticeSchema):
    qualified = Int(required=True, metadata={"description": "households qualified"})


class ObjectionRequest(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(max=services.REASON_MAX),
        metadata={"description": f"at least {services.REASON_MIN} characters"},
    )


class ObjectionSchema(Schema):
    id = Int(required=True)
    entry_id = Int(required=True)
    reference = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open, upheld or dismissed"})
    reason = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    respond_by = fields.Date(required=True)
    resolution = fields.String(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)


class PublishRequest(Schema):
    district = fields.String(
        required=True, validate=validate.Length(1, 12), metadata={"description": "division code"}
    )
    programme = fields.String(required=True, validate=validate.OneOf([p.value for p in Programme]))


class ResolutionRequest(Schema):
    upheld = fields.Boolean(
        required=True,
        metadata={"description": "true: the application goes back to the officer's decision"},
    )
    resolution = fields.String(
        required=True,
        validate=validate.Length(max=services.RESOLUTION_MAX),
        metadata={"description": "the answer the objector receives"},
    )


def _notice(summary: services.NoticeSummary) -> dict:
    n = summary.notice
    return {
        "id": n.id,
        "district": n.district.code,
        "district_name": n.district.name(current_locale()),
        "programme": n.programme.value,
        "programme_title": str(n.programme.label),
        "status": n.status.value,
        "starts_on": n.starts_on,
        "ends_on": n.ends_on,
        "households": summary.households,
    }


def _detail(notice: Notice) -> dict:
    rows = services.entry_rows(notice, None)
    return {
        **_notice(services.summary_of(notice)),
        "objection_working_days": services.notice_rules().objection_working_days,
        "entries": [
            {
                "id": r.entry.id,
                "reference": r.entry.reference,
                "masked_name": r.entry.masked_name,
                "masked_id": r.entry.masked_id,
                "household_size": r.entry.household_size,
                "withdrawn": r.withdrawn,
                "open_to_objection": r.open_to_objection,
            }
            for r in rows
        ],
    }


def _objection(o: Objection) -> dict:
    return {
        "id": o.id,
        "entry_id": o.entry_id,
        "reference": o.entry.reference,
        "status": o.status.value,
        "reason": o.reason,
        "created_at": o.created_at,
        "respond_by": o.respond_by,
        "resolution": o.resolution,
        "resolved_at": o.resolved_at,
    }


# --- public ------------------------------------------------------------------------------


@public_blp.route("/notices")
@public_blp.response(200, NoticeSchema(many=True))
@api_access(public=True)
def list_notices():
    """Running notices, the soonest to end first."""
    return [_notice(s) for s in services.open_notices()]


@public_blp.route("/notices/<int:notice_id>")
@public_blp.response(200, NoticeDetailSchema)
@public_blp.alt_response(404, description="No such notice")
@api_access(public=True)
def get_notice(notice_id: int):
    """One notice with its households; names and ID numbers masked."""
    return _detail(db.get_or_404(Notice, notice_id))


@public_blp.route("/notices/<int:notice_id>/entries/<int:entry_id>/objections", methods=["POST"])
@public_blp.arguments(ObjectionRequest)
@public_blp.response(201, ObjectionSchema)
@public_blp.alt_response(403, description="Your own household")
@public_blp.alt_response(409, description="Notice ended, or your objection is already open")
@public_blp.alt_response(422, description="Reason too short")
@public_blp.doc(security=BEARER)
@api_access()
def file_objection(body: dict, notice_id: int, entry_id: int):
    """Object to a household on a running notice (any signed-in resident or staff member)."""
    entry = db.session.scalars(
        sa.select(NoticeEntry).where(NoticeEntry.id == entry_id, NoticeEntry.notice_id == notice_id)
    ).one_or_none()
    if entry is None:
        abort(404)
    return _objection(services.file_objection(api_user(), entry, body["reason"]))


# --- officers ----------------------------------------------------------------------------


@officer_blp.route("/officer/notices", methods=["POST"])
@officer_blp.arguments(PublishRequest)
@officer_blp.response(201, NoticeDetailSchema)
@officer_blp.alt_response(404, description="No such district among yours")
@officer_blp.alt_response(422, description="Nothing to publish")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def publish_notice(body: dict):
    """Publish every approved application of one of your districts and a programme."""
    officer = api_user()
    district_id = db.session.scalar(sa.select(District.id).where(District.code == body["district"]))
    if district_id is None:
        abort(404)
    district = load_in_scope(
        District, district_id, District.id.in_([d.id for d in officer.districts]), officer
    )
    notice = services.publish_notice(officer, district, Programme(body["programme"]))
    return _detail(notice)


@officer_blp.route("/officer/notices/<int:notice_id>/close", methods=["POST"])
@officer_blp.response(200, ClosedNoticeSchema)
@officer_blp.alt_response(404, description="No such notice in your districts")
@officer_blp.alt_response(409, description="Still running, or objections open")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def close_notice(notice_id: int):
    """Close a notice after its end date; its households become qualified."""
    officer = api_user()
    notice = load_in_scope(Notice, notice_id, services.notice_scope(officer), officer)
    qualified = services.close_notice(officer, notice)
    return {**_notice(services.summary_of(notice)), "qualified": len(qualified)}


@officer_blp.route("/officer/objections/<int:objection_id>/resolution", methods=["POST"])
@officer_blp.arguments(ResolutionRequest)
@officer_blp.response(200, ObjectionSchema)
@officer_blp.alt_response(404, description="No such objection in your districts")
@officer_blp.alt_response(409, description="Already answered")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def resolve_objection(body: dict, objection_id: int):
    """Answer an objection: upheld sends the application back for a decision."""
    officer = api_user()
    objection = load_in_scope(Objection, objection_id, services.objection_scope(officer), officer)
    resolved = services.resolve_objection(officer, objection, body["upheld"], body["resolution"])
    return _objection(resolved)

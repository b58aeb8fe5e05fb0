"""JSON API of the credit records (flask-smorest); the same services as the pages.

Residents (their own records, found by their ID number): ``GET /me/credit`` (score, grade,
records with their history), ``POST /me/credit/{reference}/objection`` and
``POST /me/credit/{reference}/repair``. Staff: officers and managers list the records in
their scope and flag violations; managers confirm or reject them (never the one who flagged
it: 409) and decide objections and repair requests. Errors are RFC 9457 problem documents.
Files (evidence, documents) are attached on the pages.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.api.fields import Int
from portal.core.access import api_access
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.credit import services
from portal.credit.models import (
    CreditAppeal,
    CreditRecord,
    Grade,
    RecordStatus,
    SubjectKind,
)
from portal.extensions import db

resident_blp = Blueprint(
    "api_my_credit",
    __name__,
    description="Residents: their credit records (诚信记录), objections (异议) and credit repair",
)
staff_blp = Blueprint(
    "api_staff_credit",
    __name__,
    description=(
        "Officers and managers: credit records in their scope, flagging violations; managers "
        "confirm them (four eyes) and decide objections and repair requests"
    ),
)

blueprints = [resident_blp, staff_blp]

BEARER = [{"bearerAuth": []}]


class CreditAppealSchema(Schema):
    id = Int(required=True)
    kind = fields.String(required=True, metadata={"description": "objection or repair"})
    kind_title = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open, granted or refused"})
    status_title = fields.String(required=True)
    reason = fields.String(required=True)
    filed_at = fields.DateTime(required=True)
    respond_by = fields.Date(required=True, metadata={"description": "decided by this day"})
    decided_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    files = Int(required=True, metadata={"description": "number of files sent"})


class CreditRecordSchema(Schema):
    reference = fields.String(required=True, metadata={"example": "CR2026000001"})
    violation_code = fields.String(required=True, metadata={"example": "V-SUBLET"})
    violation_name = fields.String(required=True)
    grade = fields.String(required=True, metadata={"description": "general, major or serious"})
    grade_title = fields.String(required=True)
    points = Int(required=True, metadata={"description": "deducted from 100"})
    facts = fields.String(required=True)
    measures = fields.String(required=True)
    legal_basis = fields.String(required=True)
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    occurred_on = fields.Date(required=True)
    starts_on = fields.Date(allow_none=True)
    publish_until = fields.Date(allow_none=True)
    ban_until = fields.Date(allow_none=True, metadata={"description": "null: no ban"})
    object_by = fields.Date(allow_none=True, metadata={"description": "last day to object"})
    repair_from = fields.Date(allow_none=True, metadata={"description": "repair from this day"})
    ended_on = fields.Date(allow_none=True)
    can_object = fields.Boolean(required=True)
    can_ask_repair = fields.Boolean(required=True)
    appeals = fields.List(fields.Nested(CreditAppealSchema), required=True)


class MyCreditSchema(Schema):
    score = Int(required=True, metadata={"description": "100 minus points in force"})
    grade = fields.String(required=True, metadata={"description": "A ≥ 95, B ≥ 85, C ≥ 70, D"})
    records = fields.List(fields.Nested(CreditRecordSchema), required=True)


class CreditAppealRequest(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(max=services.REASON_MAX),
        metadata={"description": f"at least {services.REASON_MIN} characters"},
    )


class StaffCreditRecordSchema(CreditRecordSchema):
    id = Int(required=True)
    subject_kind = fields.String(required=True, metadata={"description": "person or organisation"})
    subject_name = fields.String(required=True)
    subject_id = fields.String(
        required=True, metadata={"description": "masked ID number, or the credit code"}
    )
    subject_score = Int(required=True)
    subject_grade = fields.String(required=True)
    source = fields.String(required=True)
    version = Int(required=True, metadata={"description": "catalogue version"})
    flagged_at = fields.DateTime(required=True)
    flagged_by_self = fields.Boolean(
        required=True, metadata={"description": "you flagged it: another manager confirms"}
    )
    confirmed_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)


class CreditRecordPageSchema(Schema):
    records = fields.List(fields.Nested(StaffCreditRecordSchema), required=True)
    next_before = Int(
        allow_none=True, metadata={"description": "ask again with before=this for more"}
    )


class CreditRecordQuery(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in RecordStatus]))
    grade = fields.String(validate=validate.OneOf([g.value for g in Grade]))
    q = fields.String(
        validate=validate.Length(max=60),
        metadata={"description": "reference, part of a name, a whole ID number or credit code"},
    )
    before = Int(validate=validate.Range(min=1))
    limit = Int(load_default=services.PAGE, validate=validate.Range(1, 200))


class FlagViolationRequest(Schema):
    subject_kind = fields.String(
        required=True, validate=validate.OneOf([k.value for k in SubjectKind])
    )
    id_number = fields.String(load_default=None, metadata={"description": "persons"})
    credit_code = fields.String(load_default=None, metadata={"description": "organisations"})
    name = fields.String(required=True)
    code = fields.String(required=True, metadata={"example": "V-SUBLET"})
    facts = fields.String(required=True)
    occurred_on = fields.Date(required=True)
    months = Int(load_default=None, metadata={"description": "arrears or vacancy, in months"})


class ConfirmRecordRequest(Schema):
    note = fields.String(load_default=None, validate=validate.Length(max=services.NOTE_MAX))


class RejectRecordRequest(Schema):
    note = fields.String(required=True, validate=validate.Length(max=services.NOTE_MAX))


class CreditDecisionRequest(Schema):
    granted = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(max=services.REASON_MAX))


def _appeal(a: CreditAppeal) -> dict:
    return {
        "id": a.id,
        "kind": a.kind.value,
        "kind_title": str(a.kind.label),
        "status": a.status.value,
        "status_title": str(a.status.label),
        "reason": a.reason,
        "filed_at": a.filed_at,
        "respond_by": a.respond_by,
        "decided_at": a.decided_at,
        "decision_reason": a.decision_reason,
        "files": len(a.files),
    }


def _record(r: CreditRecord) -> dict:
    locale = current_locale()
    v = r.violation_type
    return {
        "reference": r.reference,
        "violation_code": v.code,
        "violation_name": v.name(locale),
        "grade": r.grade.value,
        "grade_title": str(r.grade.label),
        "points": r.points,
        "facts": r.facts,
        "measures": v.measures(locale),
        "legal_basis": v.legal_basis,
        "status": r.status.value,
        "status_title": str(r.status.label),
        "occurred_on": r.occurred_on,
        "starts_on": r.starts_on,
        "publish_until": r.publish_until,
        "ban_until": r.ban_until,
        "object_by": r.object_by,
        "repair_from": r.repair_from,
        "ended_on": r.ended_on,
        "can_object": services.can_object(r),
        "can_ask_repair": services.can_ask_repair(r),
        "appeals": [_appeal(a) for a in services.appeals_of(r)],
    }


def _staff_record(r: CreditRecord) -> dict:
    user = api_user()
    value, letter = services.score(r.subject_index)
    return {
        **_record(r),
        "id": r.id,
        "subject_kind": r.subject_kind.value,
        "subject_name": r.subject_name,
        "subject_id": services.masked_subject(r),
        "subject_score": value,
        "subject_grade": letter,
        "source": r.source,
        "version": r.violation_type.version,
        "flagged_at": r.flagged_at,
        "flagged_by_self": r.flagged_by_id == user.id,
        "confirmed_at": r.confirmed_at,
        "decision_note": r.decision_note,
    }


# --- residents -------------------------------------------------------------------------------


@resident_blp.route("/me/credit")
@resident_blp.response(200, MyCreditSchema)
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def my_credit():
    """Your credit score and grade, and your records with their history."""
    user = api_user()
    value, letter = services.score(user.id_number_index) if user.id_number_index else (100, "A")
    return {
        "score": value,
        "grade": letter,
        "records": [_record(r) for r in services.records_of_subject(user)],
    }


@resident_blp.route("/me/credit/<reference>/objection", methods=["POST"])
@resident_blp.arguments(CreditAppealRequest)
@resident_blp.response(201, CreditAppealSchema)
@resident_blp.alt_response(404, description="No such record of yours")
@resident_blp.alt_response(409, description="The period is over, or you already objected")
@resident_blp.alt_response(422, description="Reason too short")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def object_to(body: dict, reference: str):
    """Object to one of your records within 15 working days of being told."""
    user = api_user()
    record = services.record_of_subject(user, reference)
    return _appeal(services.object_to_record(user, record, body["reason"]))


@resident_blp.route("/me/credit/<reference>/repair", methods=["POST"])
@resident_blp.arguments(CreditAppealRequest)
@resident_blp.response(201, CreditAppealSchema)
@resident_blp.alt_response(404, description="No such record of yours")
@resident_blp.alt_response(409, description="Not yet possible, or already being decided")
@resident_blp.alt_response(422, description="Reason too short")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def ask_repair(body: dict, reference: str):
    """Ask for credit repair of one of your records, from its ``repair_from`` day."""
    user = api_user()
    record = services.record_of_subject(user, reference)
    return _appeal(services.ask_repair(user, record, body["reason"]))


# --- staff -----------------------------------------------------------------------------------


def _load(record_id: int) -> CreditRecord:
    user = api_user()
    return load_in_scope(CreditRecord, record_id, services.record_scope(user), user)


@staff_blp.route("/staff/credit/records")
@staff_blp.arguments(CreditRecordQuery, location="query")
@staff_blp.response(200, CreditRecordPageSchema)
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def list_records(query: dict):
    """Records in your scope, the newest first (officers: those they flagged, their
    districts' persons, organisations; managers: all)."""
    wanted = services.RecordFilter(
        status=RecordStatus(query["status"]) if query.get("status") else None,
        grade=Grade(query["grade"]) if query.get("grade") else None,
        q=query.get("q") or "",
    )
    rows, next_before = services.records_page(
        api_user(), wanted, before=query.get("before"), limit=query["limit"]
    )
    return {"records": [_staff_record(r) for r in rows], "next_before": next_before}


@staff_blp.route("/staff/credit/records", methods=["POST"])
@staff_blp.arguments(FlagViolationRequest)
@staff_blp.response(201, StaffCreditRecordSchema)
@staff_blp.alt_response(409, description="The same violation is already recorded")
@staff_blp.alt_response(422, description="Invalid ID number, credit code, date or facts")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def flag(body: dict):
    """Flag a violation: a pending record that another manager confirms."""
    record = services.flag_violation(api_user(), **body)
    return _staff_record(record)


@staff_blp.route("/staff/credit/records/<int:record_id>")
@staff_blp.response(200, StaffCreditRecordSchema)
@staff_blp.alt_response(404, description="No such record in your scope")
@staff_blp.doc(security=BEARER)
@api_access(Role.OFFICER, Role.MANAGER)
def get_record(record_id: int):
    """One record in your scope."""
    return _staff_record(_load(record_id))


@staff_blp.route("/staff/credit/records/<int:record_id>/confirmation", methods=["POST"])
@staff_blp.arguments(ConfirmRecordRequest)
@staff_blp.response(200, StaffCreditRecordSchema)
@staff_blp.alt_response(403, description="Only managers confirm")
@staff_blp.alt_response(409, description="You flagged it (four eyes), or it is not pending")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def confirm(body: dict, record_id: int):
    """Confirm a pending record: in force from today, the subject is told."""
    record = services.confirm(_load(record_id), api_user(), body.get("note"))
    return _staff_record(record)


@staff_blp.route("/staff/credit/records/<int:record_id>/rejection", methods=["POST"])
@staff_blp.arguments(RejectRecordRequest)
@staff_blp.response(200, StaffCreditRecordSchema)
@staff_blp.alt_response(403, description="Only managers reject")
@staff_blp.alt_response(409, description="You flagged it (four eyes), or it is not pending")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def reject(body: dict, record_id: int):
    """Do not confirm a pending record (with the reason)."""
    record = services.reject(_load(record_id), api_user(), body["note"])
    return _staff_record(record)


@staff_blp.route("/staff/credit/appeals/<int:appeal_id>/decision", methods=["POST"])
@staff_blp.arguments(CreditDecisionRequest)
@staff_blp.response(200, CreditAppealSchema)
@staff_blp.alt_response(404, description="No such request")
@staff_blp.alt_response(409, description="Already decided")
@staff_blp.doc(security=BEARER)
@api_access(Role.MANAGER)
def decide(body: dict, appeal_id: int):
    """Decide an objection or a request for credit repair, with the reason."""
    appeal = db.get_or_404(CreditAppeal, appeal_id)
    decided = services.decide_appeal(
        appeal, api_user(), granted=body["granted"], reason=body["reason"]
    )
    return _appeal(decided)

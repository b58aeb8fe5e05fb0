"""The API's shapes of applications, department checks and their parts (marshmallow), and the
functions that present the models in those shapes.

Responses are dumped through these schemas, so a field reaches a client only when it is
declared here. ID numbers leave only masked (first 4 and last 4 characters); department
facts are keyed by household member id, never by the blind index.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_smorest.fields import Upload as UploadField
from marshmallow import Schema, fields, validate

from portal.api.fields import Int
from portal.applications.explain import explained
from portal.applications.models import (
    Application,
    ApplicationEvent,
    HouseholdMember,
    Programme,
    Relationship,
    SpotCheck,
    Status,
    SupplementRequest,
    SupplementStatus,
)
from portal.applications.texts import (
    AUTHORIZATION,
    AUTHORIZATION_VERSION,
    PLEDGE,
    PLEDGE_VERSION,
    PRIVACY_VERSION,
    signed_texts,
    texts_hash,
)
from portal.applications.timeline import awaited, event_sentence
from portal.core.clock import today
from portal.core.enums import TitledEnum
from portal.extensions import db
from portal.verification.fields import FACTS
from portal.verification.models import CheckOutcome, CheckStatus, DepartmentCheck
from portal.verification.services import checks_of, finding_text

LOCALES = ("zh_Hans_CN", "en")
ID_HINT = {"description": "masked: the first 4 and last 4 characters"}

# --- shared pieces -----------------------------------------------------------------------


class TitledSchema(Schema):
    """A state or kind: its stable code and its title in the reader's language."""

    code = fields.String(required=True)
    title = fields.String(required=True)


def titled(member: TitledEnum | None) -> dict[str, str] | None:
    return None if member is None else {"code": member.value, "title": str(member.label)}


def _codes(enum_cls: type[TitledEnum]) -> list[str]:
    return [m.value for m in enum_cls]


class PageQuery(Schema):
    """Keyset pagination: ``after`` is the ``next`` value of the previous page."""

    after = Int(
        load_default=None,
        validate=validate.Range(min=0),
        metadata={"description": "the id after which the page starts (`next` of the last page)"},
    )
    limit = Int(load_default=20, validate=validate.Range(1, 100))


# --- requests ----------------------------------------------------------------------------


class IdempotencyHeader(Schema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=validate.Length(1, 80),
        metadata={"description": "the same key answers with what the first request made"},
    )


class NewApplicationRequest(Schema):
    programme = fields.String(required=True, validate=validate.OneOf(_codes(Programme)))


class DetailsRequest(Schema):
    """The facts no department holds; fields left out keep their value."""

    contact_phone = fields.String(validate=validate.Length(max=32))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    current_address = fields.String(validate=validate.Length(max=400))
    district = fields.String(
        validate=validate.Length(max=16), metadata={"description": "district code"}
    )
    preferred_districts = fields.List(
        fields.String(validate=validate.Length(max=16)), validate=validate.Length(max=30)
    )
    declared_income = Int(
        allow_none=True, metadata={"description": "household monthly income in yuan"}
    )


class MemberRequest(Schema):
    name = fields.String(required=True, validate=validate.Length(max=200))
    id_number = fields.String(required=True, validate=validate.Length(max=64))
    relationship = fields.String(required=True, validate=validate.OneOf(_codes(Relationship)))


class SubmissionRequest(Schema):
    accept_pledge = fields.Boolean(load_default=False)
    accept_authorization = fields.Boolean(load_default=False)
    accept_privacy = fields.Boolean(load_default=False)
    locale = fields.String(
        load_default=None,
        validate=validate.OneOf(LOCALES),
        metadata={"description": "the language the texts were read in; default: the request's"},
    )
    hash = fields.String(
        required=True,
        validate=validate.Length(max=128),
        metadata={"description": "`hash` of the texts read (GET .../texts)"},
    )


class ReasonRequest(Schema):
    reason = fields.String(required=True, validate=validate.Length(max=4000))


class NoteRequest(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class DocumentRequest(Schema):
    document = fields.String(required=True, validate=validate.Length(max=200))
    reason = fields.String(required=True, validate=validate.Length(max=4000))


class UploadRequest(Schema):
    file = UploadField(metadata={"description": "PDF, JPG or PNG, at most 10 MiB"})


class SpotCheckRequest(Schema):
    false_pledge = fields.Boolean(required=True)
    finding = fields.String(required=True, validate=validate.Length(max=4000))


class OfficerQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(_codes(Status)))
    programme = fields.String(load_default=None, validate=validate.OneOf(_codes(Programme)))
    district = fields.String(load_default=None, metadata={"description": "district code"})
    overdue = fields.Boolean(
        load_default=None, metadata={"description": "past the date to decide by"}
    )


class CheckQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(_codes(CheckStatus)))
    overdue = fields.Boolean(load_default=None, metadata={"description": "past its deadline"})


# --- responses ---------------------------------------------------------------------------


class MemberSchema(Schema):
    id = Int(required=True)
    name = fields.String(required=True)
    relationship = fields.Nested(TitledSchema, required=True)
    id_number = fields.String(required=True, metadata=ID_HINT)
    birth_date = fields.Date(required=True)


class RuleSchema(Schema):
    title = fields.String(required=True)
    passed = fields.Boolean(allow_none=True)
    text = fields.String(required=True)


class CheckSummarySchema(Schema):
    department = fields.Nested(TitledSchema, required=True)
    status = fields.Nested(TitledSchema, required=True)
    outcome = fields.Nested(TitledSchema, allow_none=True)


class SupplementSchema(Schema):
    id = Int(required=True)
    document = fields.String(required=True)
    reason = fields.String(required=True)
    deadline = fields.Date(required=True)
    status = fields.Nested(TitledSchema, required=True)
    requested_at = fields.DateTime(required=True)
    answered_at = fields.DateTime(allow_none=True)
    file_name = fields.String(allow_none=True, metadata={"description": "the uploaded file"})


class ApplicationSchema(Schema):
    """An application as its applicant sees it."""

    id = Int(required=True)
    reference = fields.String(allow_none=True, metadata={"description": "given at submission"})
    programme = fields.Nested(TitledSchema, required=True)
    status = fields.Nested(TitledSchema, required=True)
    district = fields.String(allow_none=True, metadata={"description": "district code"})
    preferred_districts = fields.List(fields.String(), required=True)
    contact_phone = fields.String(allow_none=True, metadata={"description": "masked"})
    email = fields.String(allow_none=True)
    current_address = fields.String(allow_none=True)
    declared_income = Int(allow_none=True)
    members = fields.List(fields.Nested(MemberSchema), required=True)
    created_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    decide_by = fields.Date(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    second_review_by = fields.Date(allow_none=True)
    eligible = fields.Boolean(allow_none=True, metadata={"description": "the rules' finding"})
    evaluation = fields.List(fields.Nested(RuleSchema), required=True)
    checks = fields.List(fields.Nested(CheckSummarySchema), required=True)
    supplements = fields.List(fields.Nested(SupplementSchema), required=True)
    next_step = fields.String(
        required=True, metadata={"description": "what happens next, from whom and by when"}
    )


class ApplicationItemSchema(Schema):
    id = Int(required=True)
    reference = fields.String(allow_none=True)
    programme = fields.Nested(TitledSchema, required=True)
    status = fields.Nested(TitledSchema, required=True)
    district = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    decide_by = fields.Date(allow_none=True)


class TextSectionSchema(Schema):
    version = fields.String(required=True)
    paragraphs = fields.List(fields.String(), required=True)


class PrivacySchema(Schema):
    version = fields.String(required=True)
    url = fields.String(required=True)


class TextsSchema(Schema):
    locale = fields.String(required=True, metadata={"description": "send it back when signing"})
    pledge = fields.Nested(TextSectionSchema, required=True)
    authorization = fields.Nested(TextSectionSchema, required=True)
    privacy = fields.Nested(PrivacySchema, required=True)
    texts = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "the exact lines signed; `hash` is SHA-256 of them joined by \\n"},
    )
    hash = fields.String(required=True)


class EventSchema(Schema):
    at = fields.DateTime(required=True)
    kind = fields.String(required=True)
    text = fields.String(required=True)


class StaffEventSchema(EventSchema):
    public = fields.Boolean(required=True, metadata={"description": "shown to the applicant"})


FACTS_HINT = {
    "description": "facts per household member id: {member id: {fact: value}}",
    "example": {"17": {"hukou_local": True, "hukou_since": "2010-01-01"}},
}


class CheckSchema(Schema):
    """A department check with what the department said."""

    id = Int(required=True)
    application_id = Int(required=True)
    reference = fields.String(allow_none=True)
    department = fields.Nested(TitledSchema, required=True)
    status = fields.Nested(TitledSchema, required=True)
    outcome = fields.Nested(TitledSchema, allow_none=True)
    facts = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True)),
        required=True,
        metadata=FACTS_HINT,
    )
    findings = fields.List(fields.String(), required=True)
    source = fields.String(allow_none=True)
    fetched_at = fields.DateTime(allow_none=True)
    payload_hash = fields.String(
        allow_none=True, metadata={"description": "SHA-256 of the raw answer"}
    )
    error = fields.String(allow_none=True)
    deadline = fields.Date(required=True)
    overdue = fields.Boolean(required=True)
    reviewed_at = fields.DateTime(allow_none=True)
    review_note = fields.String(allow_none=True)


class FactFieldSchema(Schema):
    name = fields.String(required=True)
    kind = fields.String(
        required=True, metadata={"description": "bool, int, decimal, date, choice, text"}
    )
    label = fields.String(required=True)
    choices = fields.List(fields.String(), required=True)


class CheckDetailSchema(CheckSchema):
    """A check as its department's reviewer works it."""

    application_status = fields.Nested(TitledSchema, required=True)
    programme = fields.Nested(TitledSchema, required=True)
    members = fields.List(fields.Nested(MemberSchema), required=True)
    fact_fields = fields.List(
        fields.Nested(FactFieldSchema),
        required=True,
        metadata={"description": "the facts this department reports, for corrections"},
    )


class CheckItemSchema(Schema):
    id = Int(required=True)
    application_id = Int(required=True)
    reference = fields.String(allow_none=True)
    department = fields.Nested(TitledSchema, required=True)
    status = fields.Nested(TitledSchema, required=True)
    outcome = fields.Nested(TitledSchema, allow_none=True)
    deadline = fields.Date(required=True)
    overdue = fields.Boolean(required=True)
    members = Int(required=True, metadata={"description": "household size"})


class CheckPageSchema(Schema):
    items = fields.List(fields.Nested(CheckItemSchema), required=True)
    next = Int(allow_none=True, metadata={"description": "`after` of the next page"})


class CorrectionRequest(Schema):
    facts = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True)),
        required=True,
        metadata={
            **FACTS_HINT,
            "description": (
                "corrected facts per household member id; facts and members left out keep the "
                "department's value, null removes a fact"
            ),
        },
    )
    reason = fields.String(required=True, validate=validate.Length(max=4000))


class ApplicantSchema(Schema):
    name = fields.String(required=True)
    id_number = fields.String(required=True, metadata=ID_HINT)


class SpotCheckSchema(Schema):
    id = Int(required=True)
    drawn_at = fields.DateTime(required=True)
    outcome = fields.String(allow_none=True, metadata={"description": "clean or false_pledge"})
    finding = fields.String(allow_none=True)
    checked_at = fields.DateTime(allow_none=True)


class OfficerApplicationSchema(ApplicationSchema):
    """The whole file, as a housing officer of its district sees it."""

    applicant = fields.Nested(ApplicantSchema, required=True)
    rule_version_id = Int(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    signed_at = fields.DateTime(allow_none=True)
    pledge_version = fields.String(allow_none=True)
    authorization_version = fields.String(allow_none=True)
    privacy_version = fields.String(allow_none=True)
    checks = fields.List(fields.Nested(CheckSchema), required=True)
    events = fields.List(fields.Nested(StaffEventSchema), required=True)
    spot_check = fields.Nested(SpotCheckSchema, allow_none=True)


class OfficerItemSchema(ApplicationItemSchema):
    applicant_name = fields.String(required=True)
    household_size = Int(required=True)
    overdue = fields.Boolean(required=True)


class ApplicationPageSchema(Schema):
    items = fields.List(fields.Nested(OfficerItemSchema), required=True)
    next = Int(allow_none=True, metadata={"description": "`after` of the next page"})


# --- presenting the models ---------------------------------------------------------------


def member_document(m: HouseholdMember) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "relationship": titled(m.relation),
        "id_number": m.masked_id_number,
        "birth_date": m.birth_date,
    }


def _masked_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else "*" * len(phone)


def supplements_of(app: Application) -> list[SupplementRequest]:
    return list(
        db.session.scalars(
            sa.select(SupplementRequest)
            .where(SupplementRequest.application_id == app.id)
            .order_by(SupplementRequest.id)
        )
    )


def supplement_document(req: SupplementRequest) -> dict[str, Any]:
    return {
        "id": req.id,
        "document": req.document,
        "reason": req.reason,
        "deadline": req.deadline,
        "status": titled(req.status),
        "requested_at": req.requested_at,
        "answered_at": req.answered_at,
        "file_name": req.upload.original_name if req.upload else None,
    }


def item_document(app: Application) -> dict[str, Any]:
    return {
        "id": app.id,
        "reference": app.reference,
        "programme": titled(app.programme),
        "status": titled(app.status),
        "district": app.district.code if app.district else None,
        "created_at": app.created_at,
        "submitted_at": app.submitted_at,
        "decide_by": app.decide_by,
    }


def _notice_ends_on(app: Application) -> date | None:
    from portal.notices.models import Notice, NoticeEntry

    return db.session.scalar(
        sa.select(Notice.ends_on)
        .join(NoticeEntry, NoticeEntry.notice_id == Notice.id)
        .where(NoticeEntry.application_id == app.id)
        .order_by(Notice.id.desc())
        .limit(1)
    )


def _awaited(app: Application, supplements: list[SupplementRequest]) -> str:
    """What happens next, from whom and by when (the sentence the status page shows)."""
    return awaited(
        app,
        supplement_deadline=min(
            (r.deadline for r in supplements if r.status is SupplementStatus.OPEN), default=None
        ),
        notice_ends_on=_notice_ends_on(app) if app.status is Status.NOTICE else None,
    )


def _common(app: Application) -> dict[str, Any]:
    evaluation = app.evaluation
    supplements = supplements_of(app)
    return {
        **item_document(app),
        "preferred_districts": [d.code for d in app.preferred_districts],
        "contact_phone": _masked_phone(app.contact_phone),
        "email": app.email,
        "current_address": app.current_address,
        "declared_income": app.declared_income,
        "members": [member_document(m) for m in app.members],
        "decision_reason": app.decision_reason,
        "second_review_by": app.second_review_by,
        "eligible": evaluation.get("eligible") if evaluation else None,
        "evaluation": explained(evaluation),
        "supplements": [supplement_document(r) for r in supplements],
        "next_step": _awaited(app, supplements),
    }


def application_document(app: Application) -> dict[str, Any]:
    """The applicant's view: the checks' states, never the departments' facts."""
    return {
        **_common(app),
        "checks": [
            {
                "department": titled(c.department),
                "status": titled(c.status),
                "outcome": titled(c.outcome),
            }
            for c in checks_of(app)
        ],
    }


def facts_by_member(check: DepartmentCheck, members: list[HouseholdMember]) -> dict[str, dict]:
    """The department's facts keyed by member id, limited to the facts it reports (no blind
    indexes leave the portal)."""
    names = {f.name for f in FACTS[check.department]}
    ids = {m.id_index: str(m.id) for m in members}
    return {
        ids[index]: {k: v for k, v in facts.items() if k in names}
        for index, facts in check.facts.items()
        if index in ids
    }


def _open(check: DepartmentCheck) -> bool:
    return check.outcome not in (CheckOutcome.CONFIRMED, CheckOutcome.OVERRIDDEN)


def check_document(check: DepartmentCheck) -> dict[str, Any]:
    app = check.application
    return {
        "id": check.id,
        "application_id": app.id,
        "reference": app.reference,
        "department": titled(check.department),
        "status": titled(check.status),
        "outcome": titled(check.outcome),
        "facts": facts_by_member(check, app.members),
        "findings": [finding_text(f) for f in check.findings],
        "source": check.source,
        "fetched_at": check.fetched_at,
        "payload_hash": check.payload_hash,
        "error": check.error,
        "deadline": check.deadline,
        "overdue": _open(check) and check.deadline < today(),
        "reviewed_at": check.reviewed_at,
        "review_note": check.review_note,
    }


def check_detail_document(check: DepartmentCheck) -> dict[str, Any]:
    app = check.application
    return {
        **check_document(check),
        "application_status": titled(app.status),
        "programme": titled(app.programme),
        "members": [member_document(m) for m in app.members],
        "fact_fields": [
            {"name": f.name, "kind": f.kind, "label": str(f.label), "choices": list(f.choices)}
            for f in FACTS[check.department]
        ],
    }


def check_item_document(check: DepartmentCheck) -> dict[str, Any]:
    app = check.application
    return {
        "id": check.id,
        "application_id": app.id,
        "reference": app.reference,
        "department": titled(check.department),
        "status": titled(check.status),
        "outcome": titled(check.outcome),
        "deadline": check.deadline,
        "overdue": _open(check) and check.deadline < today(),
        "members": len(app.members),
    }


def event_document(ev: ApplicationEvent, *, staff: bool = False) -> dict[str, Any]:
    doc = {"at": ev.at, "kind": ev.kind, "text": event_sentence(ev, staff=staff)}
    if staff:
        doc["public"] = ev.public
    return doc


OPEN_FOR_DECISION = (Status.CHECKING, Status.SUPPLEMENT, Status.REVIEW, Status.SECOND_REVIEW)


def officer_item_document(app: Application) -> dict[str, Any]:
    return {
        **item_document(app),
        "applicant_name": app.applicant.real_name,
        "household_size": app.household_size,
        "overdue": bool(
            app.status in OPEN_FOR_DECISION and app.decide_by and app.decide_by < today()
        ),
    }


def officer_document(app: Application) -> dict[str, Any]:
    """The whole file: facts per member, the rules' reasons, documents, every event."""
    spot = db.session.scalars(
        sa.select(SpotCheck).where(SpotCheck.application_id == app.id)
    ).one_or_none()
    return {
        **_common(app),
        "applicant": {
            "name": app.applicant.real_name,
            "id_number": app.applicant.masked_id_number,
        },
        "rule_version_id": app.rule_version_id,
        "decided_at": app.decided_at,
        "signed_at": app.signed_at,
        "pledge_version": app.pledge_version,
        "authorization_version": app.authorization_version,
        "privacy_version": app.privacy_version,
        "checks": [check_document(c) for c in checks_of(app)],
        "events": [event_document(e, staff=True) for e in app.events],
        "spot_check": None
        if spot is None
        else {
            "id": spot.id,
            "drawn_at": spot.drawn_at,
            "outcome": spot.outcome,
            "finding": spot.finding,
            "checked_at": spot.checked_at,
        },
    }


def texts_document(locale: str) -> dict[str, Any]:
    """What a resident signs, in ``locale``, with the hash to send back when signing."""
    with force_locale(locale):
        pledge = [str(t) for t in PLEDGE]
        authorization = [str(t) for t in AUTHORIZATION]
    return {
        "locale": locale,
        "pledge": {"version": PLEDGE_VERSION, "paragraphs": pledge},
        "authorization": {"version": AUTHORIZATION_VERSION, "paragraphs": authorization},
        "privacy": {"version": PRIVACY_VERSION, "url": "/privacy"},
        "texts": signed_texts(locale),
        "hash": texts_hash(locale),
    }

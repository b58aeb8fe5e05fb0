"""JSON API of applications (flask-smorest): every step a resident or a housing officer takes
on the pages, calling the same services.

Each route loads its record with the caller's scope in the query (out of scope answers 404,
like a missing record), calls one service and answers with the record's document. Domain
errors become problem documents at the edge (``portal.core.web``).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, request, url_for
from flask_smorest import Blueprint

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.applications import services
from portal.applications.models import (
    Application,
    Programme,
    Relationship,
    SpotCheck,
    Status,
    SupplementRequest,
)
from portal.applications.schemas import (
    OPEN_FOR_DECISION,
    ApplicationItemSchema,
    ApplicationPageSchema,
    ApplicationSchema,
    DetailsRequest,
    DocumentRequest,
    EventSchema,
    IdempotencyHeader,
    MemberRequest,
    MemberSchema,
    NewApplicationRequest,
    NoteRequest,
    OfficerApplicationSchema,
    OfficerQuery,
    ReasonRequest,
    SpotCheckRequest,
    SubmissionRequest,
    SupplementSchema,
    TextsSchema,
    UploadRequest,
    application_document,
    event_document,
    item_document,
    member_document,
    officer_document,
    officer_item_document,
    supplement_document,
    texts_document,
)
from portal.core.access import api_access
from portal.core.clock import today
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.extensions import db

resident_blp = Blueprint(
    "api_applications",
    __name__,
    description="A resident's own applications, draft to decision",
)
officer_blp = Blueprint(
    "api_officer", __name__, description="Housing officers: the applications of their districts"
)

blueprints = [resident_blp, officer_blp]

BEARER = [{"bearerAuth": []}]


# --- resident ----------------------------------------------------------------------------


def _own(app_id: int) -> tuple[User, Application]:
    user = api_user()
    return user, load_in_scope(Application, app_id, services.resident_scope(user), user)


@resident_blp.route("/applications", methods=["POST"])
@resident_blp.arguments(NewApplicationRequest)
@resident_blp.arguments(IdempotencyHeader, location="headers")
@resident_blp.response(201, ApplicationSchema, description="A new draft")
@resident_blp.alt_response(
    200,
    schema=ApplicationSchema,
    description="An existing draft: the one made with this Idempotency-Key, or the one in "
    "progress (one draft at a time)",
)
@resident_blp.alt_response(409, description="Already in an active application or tenancy")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def start_application(body: dict, headers: dict):
    """Start an application (a draft with the applicant as its first member)."""
    user = api_user()
    before = db.session.scalar(
        sa.select(sa.func.max(Application.id)).where(services.resident_scope(user))
    )
    app = services.start_application(
        user, Programme(body["programme"]), idempotency_key=headers.get("idempotency_key")
    )
    created = before is None or app.id > before
    location = url_for("api_applications.application", app_id=app.id)
    return application_document(app), 201 if created else 200, {"Location": location}


@resident_blp.route("/applications")
@resident_blp.response(200, ApplicationItemSchema(many=True))
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def applications():
    """The caller's own applications, newest first."""
    user = api_user()
    rows = db.session.scalars(
        sa.select(Application).where(services.resident_scope(user)).order_by(Application.id.desc())
    )
    return [item_document(a) for a in rows]


@resident_blp.route("/applications/<int:app_id>")
@resident_blp.response(200, ApplicationSchema)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def application(app_id: int):
    """One of the caller's applications: household, checks, the rules' reasons, next step."""
    _user, app = _own(app_id)
    return application_document(app)


@resident_blp.route("/applications/<int:app_id>", methods=["PATCH"])
@resident_blp.arguments(DetailsRequest)
@resident_blp.response(200, ApplicationSchema)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.alt_response(409, description="No longer a draft")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def update_application(body: dict, app_id: int):
    """Change a draft's contact details, district and declared income."""
    user, app = _own(app_id)
    services.update_details(
        app,
        user,
        contact_phone=body.get("contact_phone", app.contact_phone or ""),
        email=body.get("email", app.email),
        current_address=body.get("current_address", app.current_address or ""),
        district_code=body.get("district", app.district.code if app.district else ""),
        preferred_codes=body.get("preferred_districts", [d.code for d in app.preferred_districts]),
        declared_income=body.get("declared_income", app.declared_income),
    )
    return application_document(app)


@resident_blp.route("/applications/<int:app_id>/members", methods=["POST"])
@resident_blp.arguments(MemberRequest)
@resident_blp.response(201, MemberSchema)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.alt_response(409, description="The person is in another active application")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def add_member(body: dict, app_id: int):
    """Add a household member to a draft; the ID number is checked (GB 11643)."""
    user, app = _own(app_id)
    member = services.add_member(
        app,
        user,
        name=body["name"],
        id_number=body["id_number"],
        relationship=Relationship(body["relationship"]),
    )
    return member_document(member)


@resident_blp.route("/applications/<int:app_id>/members/<int:member_id>", methods=["DELETE"])
@resident_blp.response(204)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def remove_member(app_id: int, member_id: int):
    """Remove a household member from a draft."""
    user, app = _own(app_id)
    services.remove_member(app, user, member_id)


@resident_blp.route("/applications/<int:app_id>/texts")
@resident_blp.response(200, TextsSchema)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def texts(app_id: int):
    """The pledge, the authorization and the privacy notice to sign, in the language of
    Accept-Language, with their versions and the hash to send back when submitting."""
    _own(app_id)
    return texts_document(current_locale())


@resident_blp.route("/applications/<int:app_id>/submission", methods=["POST"])
@resident_blp.arguments(SubmissionRequest)
@resident_blp.arguments(IdempotencyHeader, location="headers")
@resident_blp.response(200, ApplicationSchema)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.alt_response(409, description="The texts changed, or a member is in another case")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def submit(body: dict, headers: dict, app_id: int):
    """Sign and submit. Idempotent: submitting again answers with the same application."""
    user, app = _own(app_id)
    app = services.submit(
        app,
        user,
        accept_pledge=body["accept_pledge"],
        accept_authorization=body["accept_authorization"],
        accept_privacy=body["accept_privacy"],
        locale=body["locale"] or current_locale(),
        shown_hash=body["hash"],
    )
    return application_document(app)


@resident_blp.route("/applications/<int:app_id>/timeline")
@resident_blp.response(200, EventSchema(many=True))
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def timeline(app_id: int):
    """What happened to the application, oldest first."""
    _user, app = _own(app_id)
    return [event_document(e) for e in app.events if e.public]


@resident_blp.route("/applications/<int:app_id>/supplements/<int:req_id>", methods=["POST"])
@resident_blp.arguments(UploadRequest, location="files")
@resident_blp.response(200, ApplicationSchema)
@resident_blp.alt_response(404, description="No such request on an application of yours")
@resident_blp.alt_response(413, description="The file is larger than 10 MiB")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def answer_supplement(files: dict, app_id: int, req_id: int):
    """Upload the document asked for (PDF, JPG or PNG, at most 10 MiB), as field `file`."""
    user, app = _own(app_id)
    req = db.session.scalars(
        sa.select(SupplementRequest).where(
            SupplementRequest.id == req_id, SupplementRequest.application_id == app.id
        )
    ).one_or_none()
    if req is None:
        abort(404)
    services.answer_supplement(req, user, request.files.get("file"))
    return application_document(app)


@resident_blp.route("/applications/<int:app_id>/second-review", methods=["POST"])
@resident_blp.arguments(ReasonRequest)
@resident_blp.response(200, ApplicationSchema)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.alt_response(409, description="Not rejected, or the time for it has passed")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def second_review(body: dict, app_id: int):
    """Ask for a rejected application to be looked at again."""
    user, app = _own(app_id)
    services.request_second_review(app, user, body["reason"])
    return application_document(app)


@resident_blp.route("/applications/<int:app_id>/withdrawal", methods=["POST"])
@resident_blp.response(200, ApplicationSchema)
@resident_blp.alt_response(404, description="No such application of yours")
@resident_blp.alt_response(409, description="Already decided or ended")
@resident_blp.doc(security=BEARER)
@api_access(Role.RESIDENT)
def withdraw(app_id: int):
    """Withdraw the application; its members are free to apply elsewhere."""
    user, app = _own(app_id)
    services.withdraw(app, user)
    return application_document(app)


# --- officer -----------------------------------------------------------------------------


def _officer_scope(user: User) -> sa.ColumnElement[bool]:
    """The officer's districts; drafts are the resident's own until submitted."""
    return sa.and_(services.officer_scope(user), Application.status != Status.DRAFT)


def _in_district(app_id: int) -> tuple[User, Application]:
    user = api_user()
    return user, load_in_scope(Application, app_id, _officer_scope(user), user)


@officer_blp.route("/officer/applications")
@officer_blp.arguments(OfficerQuery, location="query")
@officer_blp.response(200, ApplicationPageSchema)
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def officer_applications(query: dict):
    """The applications of the officer's districts, oldest first, a page at a time."""
    user = api_user()
    stmt = sa.select(Application).where(_officer_scope(user))
    if query["status"]:
        stmt = stmt.where(Application.status == Status(query["status"]))
    if query["programme"]:
        stmt = stmt.where(Application.programme == Programme(query["programme"]))
    if query["district"]:
        stmt = stmt.where(
            Application.district_id.in_(
                sa.select(District.id).where(District.code == query["district"])
            )
        )
    if query["overdue"] is not None:
        late = sa.and_(Application.status.in_(OPEN_FOR_DECISION), Application.decide_by < today())
        stmt = stmt.where(late if query["overdue"] else sa.not_(late))
    if query["after"] is not None:
        stmt = stmt.where(Application.id > query["after"])
    rows = list(db.session.scalars(stmt.order_by(Application.id).limit(query["limit"] + 1)))
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    return {
        "items": [officer_item_document(a) for a in rows],
        "next": rows[-1].id if more else None,
    }


@officer_blp.route("/officer/applications/<int:app_id>")
@officer_blp.response(200, OfficerApplicationSchema)
@officer_blp.alt_response(404, description="No such application in your districts")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def officer_application(app_id: int):
    """The whole file: members (masked), each department's facts, the rules' reasons,
    documents and every event."""
    _user, app = _in_district(app_id)
    return officer_document(app)


@officer_blp.route("/officer/applications/<int:app_id>/approval", methods=["POST"])
@officer_blp.arguments(NoteRequest)
@officer_blp.response(200, OfficerApplicationSchema)
@officer_blp.alt_response(404, description="No such application in your districts")
@officer_blp.alt_response(409, description="Not awaiting a decision")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def approve(body: dict, app_id: int):
    """Approve for public notice; against the rules' finding, the note must say why."""
    user, app = _in_district(app_id)
    services.approve(app, user, body["note"])
    return officer_document(app)


@officer_blp.route("/officer/applications/<int:app_id>/rejection", methods=["POST"])
@officer_blp.arguments(ReasonRequest)
@officer_blp.response(200, OfficerApplicationSchema)
@officer_blp.alt_response(404, description="No such application in your districts")
@officer_blp.alt_response(409, description="Not awaiting a decision")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def reject(body: dict, app_id: int):
    """Reject, with a reason the applicant understands."""
    user, app = _in_district(app_id)
    services.reject(app, user, body["reason"])
    return officer_document(app)


@officer_blp.route("/officer/applications/<int:app_id>/document-request", methods=["POST"])
@officer_blp.arguments(DocumentRequest)
@officer_blp.response(201, SupplementSchema)
@officer_blp.alt_response(404, description="No such application in your districts")
@officer_blp.alt_response(409, description="The application is not being examined")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def request_document(body: dict, app_id: int):
    """Ask the applicant for one specific document (补正), with a deadline."""
    user, app = _in_district(app_id)
    req = services.request_supplement(app, user, document=body["document"], reason=body["reason"])
    return supplement_document(req)


@officer_blp.route("/officer/spot-checks/<int:spot_id>", methods=["POST"])
@officer_blp.arguments(SpotCheckRequest)
@officer_blp.response(200, OfficerApplicationSchema)
@officer_blp.alt_response(404, description="No such spot check in your districts")
@officer_blp.alt_response(409, description="Already recorded")
@officer_blp.doc(security=BEARER)
@api_access(Role.OFFICER)
def record_spot_check(body: dict, spot_id: int):
    """Record a spot check; a false pledge revokes the qualification."""
    user = api_user()
    in_districts = SpotCheck.application_id.in_(
        sa.select(Application.id).where(_officer_scope(user))
    )
    spot = load_in_scope(SpotCheck, spot_id, in_districts, user)
    services.record_spot_check(
        spot, user, false_pledge=body["false_pledge"], finding=body["finding"]
    )
    return officer_document(spot.application)

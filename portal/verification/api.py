"""JSON API of department checks (flask-smorest): a department reviewer's queue and the same
confirm / correct / ask-again / ask-for-a-document steps as the review pages, calling the
same services. A reviewer only ever reaches their own department's checks (404 otherwise).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_smorest import Blueprint

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.api.auth import api_user
from portal.applications.models import Application
from portal.applications.schemas import (
    CheckDetailSchema,
    CheckPageSchema,
    CheckQuery,
    CorrectionRequest,
    DocumentRequest,
    NoteRequest,
    SupplementSchema,
    check_detail_document,
    check_item_document,
    supplement_document,
)
from portal.core.access import api_access
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import load_in_scope
from portal.extensions import db
from portal.verification import services
from portal.verification.fields import FACTS
from portal.verification.models import CheckOutcome, CheckStatus, DepartmentCheck

blp = Blueprint(
    "api_checks", __name__, description="Department reviewers: their department's checks"
)

blueprints = [blp]

BEARER = [{"bearerAuth": []}]


def _in_department(check_id: int) -> tuple[User, DepartmentCheck]:
    user = api_user()
    return user, load_in_scope(DepartmentCheck, check_id, services.reviewer_scope(user), user)


@blp.route("/checks")
@blp.arguments(CheckQuery, location="query")
@blp.response(200, CheckPageSchema)
@blp.doc(security=BEARER)
@api_access(Role.REVIEWER)
def checks(query: dict):
    """The department's open checks (not yet confirmed or corrected), oldest first."""
    user = api_user()
    stmt = (
        sa.select(DepartmentCheck)
        .join(Application, Application.id == DepartmentCheck.application_id)
        .where(
            services.reviewer_scope(user),
            Application.status.in_(services.OPEN_STATUSES),
            sa.or_(
                DepartmentCheck.outcome.is_(None),
                DepartmentCheck.outcome == CheckOutcome.DOCUMENT,
            ),
        )
    )
    if query["status"]:
        stmt = stmt.where(DepartmentCheck.status == CheckStatus(query["status"]))
    if query["overdue"] is not None:
        late = DepartmentCheck.deadline < today()
        stmt = stmt.where(late if query["overdue"] else sa.not_(late))
    if query["after"] is not None:
        stmt = stmt.where(DepartmentCheck.id > query["after"])
    rows = list(db.session.scalars(stmt.order_by(DepartmentCheck.id).limit(query["limit"] + 1)))
    more = len(rows) > query["limit"]
    rows = rows[: query["limit"]]
    return {"items": [check_item_document(c) for c in rows], "next": rows[-1].id if more else None}


@blp.route("/checks/<int:check_id>")
@blp.response(200, CheckDetailSchema)
@blp.alt_response(404, description="No such check in your department")
@blp.doc(security=BEARER)
@api_access(Role.REVIEWER)
def check(check_id: int):
    """One check: the household (masked), the department's facts per member id, what does
    not match, and where and when the data came from."""
    _user, found = _in_department(check_id)
    return check_detail_document(found)


@blp.route("/checks/<int:check_id>/confirmation", methods=["POST"])
@blp.arguments(NoteRequest)
@blp.response(200, CheckDetailSchema)
@blp.alt_response(404, description="No such check in your department")
@blp.alt_response(409, description="Already settled, or the department has not answered")
@blp.doc(security=BEARER)
@api_access(Role.REVIEWER)
def confirm(body: dict, check_id: int):
    """Accept the department's answer; data that differ from the application need a note."""
    user, found = _in_department(check_id)
    services.confirm(found, user, body["note"])
    return check_detail_document(found)


def _as_text(value: Any) -> str:
    """A fact as the text the services parse (as typed on the review page)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _by_index(found: DepartmentCheck, facts: dict[str, dict[str, Any]]) -> dict[str, dict]:
    """Facts keyed by member id, merged over the department's, keyed by the blind index the
    service expects."""
    members = {str(m.id): m for m in found.application.members}
    names = [f.name for f in FACTS[found.department]]
    current = found.facts
    raw: dict[str, dict[str, str]] = {}
    for member_id, values in facts.items():
        member = members.get(member_id)
        if member is None:
            raise ValidationFailed(_l("Unknown household member."), field="facts")
        merged = {n: _as_text(current.get(member.id_index, {}).get(n)) for n in names}
        merged.update({k: _as_text(v) for k, v in values.items() if k in names})
        raw[member.id_index] = merged
    for index, values in current.items():  # members not mentioned keep their facts
        if index not in raw and index in {m.id_index for m in members.values()}:
            raw[index] = {n: _as_text(values.get(n)) for n in names}
    return raw


@blp.route("/checks/<int:check_id>/correction", methods=["POST"])
@blp.arguments(CorrectionRequest)
@blp.response(200, CheckDetailSchema)
@blp.alt_response(404, description="No such check in your department")
@blp.alt_response(409, description="Already settled")
@blp.doc(security=BEARER)
@api_access(Role.REVIEWER)
def correct(body: dict, check_id: int):
    """Enter the facts yourself (from a document or your department's system), with a reason.
    Facts are keyed by household member id."""
    user, found = _in_department(check_id)
    services.override(found, user, _by_index(found, body["facts"]), body["reason"])
    return check_detail_document(found)


@blp.route("/checks/<int:check_id>/retry", methods=["POST"])
@blp.response(200, CheckDetailSchema)
@blp.alt_response(404, description="No such check in your department")
@blp.alt_response(409, description="Already settled")
@blp.doc(security=BEARER)
@api_access(Role.REVIEWER)
def retry(check_id: int):
    """Ask the department again (it did not answer, or had no record)."""
    user, found = _in_department(check_id)
    services.ask_again(found, user)
    return check_detail_document(found)


@blp.route("/checks/<int:check_id>/document-request", methods=["POST"])
@blp.arguments(DocumentRequest)
@blp.response(201, SupplementSchema)
@blp.alt_response(404, description="No such check in your department")
@blp.alt_response(409, description="Already settled")
@blp.doc(security=BEARER)
@api_access(Role.REVIEWER)
def request_document(body: dict, check_id: int):
    """Ask the applicant for one document to settle this check (补正), with a deadline."""
    user, found = _in_department(check_id)
    req = services.request_document(found, user, document=body["document"], reason=body["reason"])
    return supplement_document(req)

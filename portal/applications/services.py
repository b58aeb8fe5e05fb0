"""Application services: every state change of an application goes through one of these.

States (``Status``): draft → checking → (supplement ⇄) → review → approved → notice →
qualified; review → rejected → second_review → approved/rejected; withdrawn and revoked end
it. Submitting claims every member (``person_claims``), so one person is never in two active
cases; ending an application releases them.
"""

from __future__ import annotations

import json
import secrets
from datetime import date

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.accounts.services import id_index, validated_id_number, validated_mobile
from portal.applications import rules
from portal.applications.models import (
    Application,
    ApplicationEvent,
    HouseholdMember,
    PersonClaim,
    Programme,
    Relationship,
    SpotCheck,
    Status,
    SupplementRequest,
    SupplementStatus,
    Upload,
)
from portal.applications.texts import (
    AUTHORIZATION_VERSION,
    PLEDGE_VERSION,
    PRIVACY_VERSION,
    texts_hash,
)
from portal.core import audit
from portal.core.calendar import add_working_days
from portal.core.clock import today, utcnow
from portal.core.errors import (
    Conflict,
    DuplicateApplication,
    Forbidden,
    InvalidTransition,
    NotEligible,
    ValidationFailed,
)
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import birth_date_of, mask_id_number
from portal.core.settings import current_version
from portal.credit.models import CreditBan
from portal.extensions import db
from portal.notifications.services import notify

MAX_MEMBERS = 12
EDITABLE = (Status.DRAFT,)
DECIDABLE = (Status.REVIEW, Status.SECOND_REVIEW)
WITHDRAWABLE = (
    Status.DRAFT,
    Status.CHECKING,
    Status.SUPPLEMENT,
    Status.REVIEW,
    Status.APPROVED,
    Status.SECOND_REVIEW,
)


# --- scope -------------------------------------------------------------------------------


def resident_scope(user: User) -> sa.ColumnElement[bool]:
    return Application.applicant_id == user.id


def officer_scope(user: User) -> sa.ColumnElement[bool]:
    """An officer sees the applications of their districts only (SECURITY.md B1)."""
    if user.role is not Role.OFFICER:
        return sa.false()
    return Application.district_id.in_([d.id for d in user.districts])


def tell_applicant(app: Application, kind: str, params: dict, link: str | None = None) -> None:
    """Tell the applicant, at the contact they gave on this application (or their account's)."""
    notify(
        app.applicant,
        kind,
        params,
        link=link or f"/applications/{app.id}",
        email=app.email,
        mobile=app.contact_phone,
    )


def _values() -> dict:
    return current_version("eligibility").values


def event(app: Application, kind: str, actor: User | None = None, public: bool = True, **params):
    ev = ApplicationEvent(
        application_id=app.id,
        kind=kind,
        actor_id=getattr(actor, "id", None),
        params_json=json.dumps({k: str(v) for k, v in params.items()}, ensure_ascii=False),
        public=public,
    )
    db.session.add(ev)
    return ev


def _require_owner(app: Application, actor: User) -> None:
    if app.applicant_id != actor.id:
        raise Forbidden()


def _require_officer(app: Application, actor: User) -> None:
    if actor.role is not Role.OFFICER or app.district_id not in {d.id for d in actor.districts}:
        raise Forbidden()


def _require_status(app: Application, *allowed: Status) -> None:
    if app.status not in allowed:
        raise InvalidTransition()


# --- screening ---------------------------------------------------------------------------


def active_bans(indexes: list[str], on: date | None = None) -> list[dict]:
    on = on or today()
    rows = db.session.scalars(
        sa.select(CreditBan).where(
            CreditBan.id_index.in_(indexes),
            CreditBan.starts_on <= on,
            sa.or_(CreditBan.ends_on.is_(None), CreditBan.ends_on >= on),
        )
    ).all()
    return [
        {
            "source": b.source,
            "reason": b.reason,
            "until": b.ends_on.isoformat() if b.ends_on else "",
            "record_id": b.record_id,
        }
        for b in rows
    ]


def _screen_bans(indexes: list[str]) -> None:
    bans = active_bans(indexes)
    if bans and bans[0]["record_id"]:  # a record of the portal's: named in the reader's words
        from portal.credit.services import ban_refusal

        raise NotEligible(ban_refusal(bans[0]["record_id"]))
    if bans:
        until = bans[0]["until"]
        raise NotEligible(
            _l(
                "A member of the household is barred from housing benefits until %(until)s: "
                "%(reason)s",
                until=until or "—",
                reason=bans[0]["reason"],
            )
        )


def _claimed_elsewhere(index: str, app_id: int | None) -> PersonClaim | None:
    claim = db.session.get(PersonClaim, index)
    if claim is not None and claim.application_id != app_id:
        return claim
    return None


# --- resident: draft ---------------------------------------------------------------------


def start_application(
    resident: User, programme: Programme, idempotency_key: str | None = None
) -> Application:
    """A draft with the applicant as first member; the same key returns the same draft."""
    if resident.role is not Role.RESIDENT:
        raise Forbidden()
    if idempotency_key:
        existing = db.session.scalars(
            sa.select(Application).where(
                Application.applicant_id == resident.id,
                Application.idempotency_key == idempotency_key,
            )
        ).one_or_none()
        if existing is not None:
            return existing
    if _claimed_elsewhere(resident.id_number_index, None):
        raise DuplicateApplication(
            _l("You already have an active application or tenancy; see its status page.")
        )
    _screen_bans([resident.id_number_index])
    draft = db.session.scalars(
        sa.select(Application).where(
            Application.applicant_id == resident.id, Application.status == Status.DRAFT
        )
    ).first()
    if draft is not None:  # one draft at a time: continue it
        draft.programme = programme
        return draft
    app = Application(
        applicant=resident,
        programme=programme,
        status=Status.DRAFT,
        contact_phone=resident.mobile,
        email=resident.email,
        idempotency_key=idempotency_key,
    )
    app.members.append(
        HouseholdMember(
            position=0,
            name=resident.real_name,
            id_number=resident.id_number,
            id_index=resident.id_number_index,
            relation=Relationship.APPLICANT,
            birth_date=resident.birth_date or birth_date_of(resident.id_number),
        )
    )
    try:
        with db.session.begin_nested():
            db.session.add(app)
            db.session.flush()
    except IntegrityError:
        # the same Idempotency-Key arrived twice at once: the other request made the draft
        return db.session.scalars(
            sa.select(Application).where(
                Application.applicant_id == resident.id,
                Application.idempotency_key == idempotency_key,
            )
        ).one()
    event(app, "created", resident, programme=programme.value)
    audit.record("application.start", actor=resident, obj=app, programme=programme.value)
    return app


def update_details(
    app: Application,
    actor: User,
    *,
    contact_phone: str,
    email: str | None,
    current_address: str,
    district_code: str,
    preferred_codes: list[str],
    declared_income: int | None = None,
) -> None:
    """The few facts no department holds: contact, address, where to apply and live."""
    _require_owner(app, actor)
    _require_status(app, *EDITABLE)
    app.contact_phone = validated_mobile(contact_phone, field="contact_phone")
    email = (email or "").strip()
    if email and ("@" not in email or len(email) > 254):
        raise ValidationFailed(_l("Enter a valid e-mail address or leave it empty."), field="email")
    app.email = email or None
    address = " ".join((current_address or "").split())
    if not 4 <= len(address) <= 200:
        raise ValidationFailed(_l("Enter the address where you live now."), field="current_address")
    app.current_address = address
    district = db.session.scalars(sa.select(District).where(District.code == district_code)).first()
    if district is None:
        raise ValidationFailed(_l("Choose the district where you apply."), field="district")
    app.district = district
    preferred = list(
        db.session.scalars(sa.select(District).where(District.code.in_(preferred_codes)))
    )
    app.preferred_districts = preferred or [district]
    if declared_income is not None and not 0 <= declared_income <= 10_000_000:
        raise ValidationFailed(_l("Enter the monthly income in yuan."), field="declared_income")
    app.declared_income = declared_income
    db.session.flush()


def add_member(
    app: Application, actor: User, *, name: str, id_number: str, relationship: Relationship
) -> HouseholdMember:
    _require_owner(app, actor)
    _require_status(app, *EDITABLE)
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 64:
        raise ValidationFailed(_l("Enter the member's name as on their ID card."), field="name")
    if relationship is Relationship.APPLICANT:
        raise ValidationFailed(_l("The applicant is already listed."), field="relationship")
    if relationship is Relationship.SPOUSE and any(
        m.relation is Relationship.SPOUSE for m in app.members
    ):
        raise ValidationFailed(_l("A household has one spouse."), field="relationship")
    if len(app.members) >= MAX_MEMBERS:
        raise ValidationFailed(_l("A household has at most 12 members."))
    number = validated_id_number(id_number)
    index = id_index(number)
    if any(m.id_index == index for m in app.members):
        raise ValidationFailed(_l("This person is already in the household."), field="id_number")
    if _claimed_elsewhere(index, app.id):
        raise DuplicateApplication(field="id_number")
    member = HouseholdMember(
        position=max(m.position for m in app.members) + 1,
        name=name,
        id_number=number,
        id_index=index,
        relation=relationship,
        birth_date=birth_date_of(number),
    )
    app.members.append(member)
    db.session.flush()
    return member


def remove_member(app: Application, actor: User, member_id: int) -> None:
    _require_owner(app, actor)
    _require_status(app, *EDITABLE)
    member = next((m for m in app.members if m.id == member_id), None)
    if member is None:
        raise ValidationFailed(_l("This person is not in the household."))
    if member.relation is Relationship.APPLICANT:
        raise ValidationFailed(_l("The applicant cannot be removed."))
    app.members.remove(member)
    db.session.flush()


# --- resident: sign and submit -----------------------------------------------------------


def _lock(app: Application) -> Application:
    """Re-read the row under a lock, so two submissions at once take turns."""
    return db.session.scalars(
        sa.select(Application)
        .where(Application.id == app.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def submit(
    app: Application,
    actor: User,
    *,
    accept_pledge: bool,
    accept_authorization: bool,
    accept_privacy: bool,
    locale: str,
    shown_hash: str,
) -> Application:
    """Sign and submit in one atomic step; submitting again returns the same application."""
    _require_owner(app, actor)
    app = _lock(app)
    if app.status is not Status.DRAFT:
        return app  # already submitted: the same answer, nothing twice
    if not (accept_pledge and accept_authorization and accept_privacy):
        raise ValidationFailed(
            _l("Read and accept the pledge, the authorization and the privacy notice."),
            field="accept",
        )
    if shown_hash != texts_hash(locale):
        raise Conflict(_l("The texts to sign have changed. Please read them again."))
    if app.district_id is None or not app.current_address or not app.contact_phone:
        raise ValidationFailed(
            _l("Fill in your contact details and district first."), field="details"
        )
    _screen_bans([m.id_index for m in app.members])
    try:
        with db.session.begin_nested():
            for m in app.members:
                db.session.add(PersonClaim(id_index=m.id_index, application_id=app.id))
            db.session.flush()
    except IntegrityError as exc:
        taken = next(
            (m for m in app.members if _claimed_elsewhere(m.id_index, app.id)), app.members[0]
        )
        raise DuplicateApplication(
            _l(
                "%(member)s is already in another active application or tenancy.",
                member=mask_id_number(taken.id_number),
            ),
            field="members",
        ) from exc
    values = _values()
    now = utcnow()
    app.reference = f"{current_app.config.get('CITY_CODE', 'GL')}{now.year}{app.id:06d}"
    app.pledge_version = PLEDGE_VERSION
    app.authorization_version = AUTHORIZATION_VERSION
    app.privacy_version = PRIVACY_VERSION
    app.signed_text_hash = shown_hash
    app.signed_locale = locale
    app.signed_at = now
    app.signed_ip = request.remote_addr if has_request_context() else None
    app.submitted_at = now
    app.accept_by = add_working_days(today(), values["accept_working_days"])
    app.decide_by = add_working_days(today(), values["decide_working_days"])
    app.status = Status.CHECKING
    db.session.flush()
    event(app, "submitted", actor, reference=app.reference)
    audit.record("application.submit", actor=actor, obj=app, members=len(app.members))
    from portal.verification import services as verification

    verification.start_checks(app)
    tell_applicant(
        app,
        "application_submitted",
        {"reference": app.reference, "decide_by": app.decide_by},
        link=f"/applications/{app.id}",
    )
    return app


def withdraw(app: Application, actor: User) -> None:
    app = _lock(app)  # two people acting at once take turns
    _require_owner(app, actor)
    _require_status(app, *WITHDRAWABLE)
    app.status = Status.WITHDRAWN
    release_claims(app)
    event(app, "withdrawn", actor)
    audit.record("application.withdraw", actor=actor, obj=app)


def release_claims(app: Application) -> None:
    db.session.execute(
        sa.delete(PersonClaim).where(PersonClaim.application_id == app.id),
        execution_options={"synchronize_session": False},
    )


# --- checks done: evaluation -------------------------------------------------------------


def evaluate(app: Application) -> rules.Evaluation:
    from portal.verification.services import settled_facts

    version = current_version("eligibility")
    people = [rules.Person(m.id_index, m.relation.value, m.birth_date) for m in app.members]
    result = rules.evaluate(
        app.programme.value,
        people,
        settled_facts(app),
        version.values,
        today(),
        active_bans([m.id_index for m in app.members]),
    )
    app.rule_version_id = version.id
    app.evaluation_json = json.dumps(result.as_dict(), ensure_ascii=False)
    return result


def checks_settled(app: Application) -> None:
    """Every department is settled: evaluate the rules and hand the file to the officer."""
    result = evaluate(app)
    app.status = Status.REVIEW
    event(app, "checks_settled", eligible=result.eligible)
    tell_applicant(
        app,
        "ready_for_decision",
        {"reference": app.reference},
        link=f"/applications/{app.id}",
    )
    db.session.flush()


# --- officer: decide ---------------------------------------------------------------------


def approve(app: Application, officer: User, note: str | None = None) -> None:
    """Approve for public notice. Going against the rules' evaluation needs a reason."""
    app = _lock(app)  # two people acting at once take turns
    _require_officer(app, officer)
    _require_status(app, *DECIDABLE)
    evaluation = app.evaluation or {}
    note = (note or "").strip()
    if evaluation.get("eligible") is not True and len(note) < 4:
        raise ValidationFailed(
            _l("The rules do not find the household eligible: give the reason for approving."),
            field="note",
        )
    if app.status is Status.SECOND_REVIEW:
        _reclaim(app)
    app.status = Status.APPROVED
    app.decided_at = utcnow()
    app.decided_by_id = officer.id
    app.decision_reason = note or None
    event(app, "approved", officer)
    audit.record("application.approve", actor=officer, obj=app, against_rules=bool(note))
    _draw_spot_check(app)
    tell_applicant(app, "approved", {"reference": app.reference}, link=f"/applications/{app.id}")
    db.session.flush()


def reject(app: Application, officer: User, reason: str) -> None:
    app = _lock(app)  # two people acting at once take turns
    _require_officer(app, officer)
    _require_status(app, *DECIDABLE)
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise ValidationFailed(
            _l("Give the reason, in words the applicant understands."), field="reason"
        )
    second = app.status is Status.SECOND_REVIEW
    app.status = Status.REJECTED
    app.decided_at = utcnow()
    app.decided_by_id = officer.id
    app.decision_reason = reason
    app.second_review_by = (
        None if second else add_working_days(today(), _values()["second_review_working_days"])
    )
    release_claims(app)
    event(app, "rejected", officer, reason=reason)
    audit.record("application.reject", actor=officer, obj=app, second_review=second)
    tell_applicant(
        app,
        "rejected",
        {
            "reference": app.reference,
            "reason": reason,
            "until": app.second_review_by or "—",
        },
        link=f"/applications/{app.id}",
    )
    db.session.flush()


def request_second_review(app: Application, actor: User, reason: str) -> None:
    """A rejected applicant asks for the decision to be looked at again (RULES.md: 15 days)."""
    _require_owner(app, actor)
    _require_status(app, Status.REJECTED)
    if app.second_review_by is None or today() > app.second_review_by:
        raise InvalidTransition(_l("The time to ask for a second review has passed."))
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise ValidationFailed(
            _l("Explain in a few sentences why the decision is wrong."), field="reason"
        )
    _reclaim(app)
    app.status = Status.SECOND_REVIEW
    app.second_review_by = None
    event(app, "second_review", actor, reason=reason)
    audit.record("application.second_review", actor=actor, obj=app)
    db.session.flush()


def _reclaim(app: Application) -> None:
    for m in app.members:
        if _claimed_elsewhere(m.id_index, app.id):
            raise DuplicateApplication(
                _l(
                    "%(member)s is already in another active application or tenancy.",
                    member=mask_id_number(m.id_number),
                )
            )
        if db.session.get(PersonClaim, m.id_index) is None:
            db.session.add(PersonClaim(id_index=m.id_index, application_id=app.id))
    db.session.flush()


# --- supplements (补正) ------------------------------------------------------------------


def request_supplement(
    app: Application, actor: User, *, document: str, reason: str, check=None
) -> SupplementRequest:
    """Ask the resident for one specific document, with a deadline."""
    if check is None:
        _require_officer(app, actor)
    _require_status(app, Status.CHECKING, Status.SUPPLEMENT, Status.REVIEW, Status.SECOND_REVIEW)
    document, reason = (document or "").strip(), (reason or "").strip()
    if not document:
        raise ValidationFailed(_l("Name the document you need."), field="document")
    if len(reason) < 4:
        raise ValidationFailed(_l("Say why it is needed."), field="reason")
    req = SupplementRequest(
        application_id=app.id,
        check_id=check.id if check is not None else None,
        document=document[:200],
        reason=reason,
        deadline=add_working_days(today(), _values()["supplement_working_days"]),
        status=SupplementStatus.OPEN,
        requested_by_id=actor.id,
    )
    db.session.add(req)
    if check is not None:
        from portal.verification.models import CheckOutcome

        check.outcome = CheckOutcome.DOCUMENT
    app.status = Status.SUPPLEMENT
    db.session.flush()
    event(app, "supplement_requested", actor, document=req.document, deadline=req.deadline)
    audit.record("application.supplement_request", actor=actor, obj=app, request=req.id)
    tell_applicant(
        app,
        "supplement_requested",
        {
            "reference": app.reference,
            "document": req.document,
            "deadline": req.deadline,
            "reason": reason,
        },
        link=f"/applications/{app.id}",
    )
    return req


def answer_supplement(req: SupplementRequest, actor: User, file) -> Upload:
    """The resident sends the document asked for. Everything is checked before the file is
    stored, so a refused answer leaves nothing behind."""
    app = req.application
    _require_owner(app, actor)
    if req.status is not SupplementStatus.OPEN:
        raise InvalidTransition(_l("This request is already answered."))
    if today() > req.deadline:
        raise InvalidTransition(
            _l("The deadline for this document has passed; contact your housing office.")
        )
    from portal.core.uploads import save_upload

    upload = save_upload(actor, file)
    req.upload = upload
    req.status = SupplementStatus.ANSWERED
    req.answered_at = utcnow()
    event(app, "supplement_answered", actor, document=req.document)
    audit.record("application.supplement_answer", actor=actor, obj=app, request=req.id)
    _resume_after_supplement(app)
    return upload


def _resume_after_supplement(app: Application) -> None:
    open_left = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SupplementRequest)
        .where(
            SupplementRequest.application_id == app.id,
            SupplementRequest.status == SupplementStatus.OPEN,
        )
    )
    if open_left:
        return
    from portal.verification.models import CheckOutcome, DepartmentCheck

    pending_checks = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(DepartmentCheck)
        .where(
            DepartmentCheck.application_id == app.id,
            sa.or_(
                DepartmentCheck.outcome.is_(None), DepartmentCheck.outcome == CheckOutcome.DOCUMENT
            ),
        )
    )
    if pending_checks:
        # the department's reviewer now settles the check with the document in hand
        db.session.execute(
            sa.update(DepartmentCheck)
            .where(
                DepartmentCheck.application_id == app.id,
                DepartmentCheck.outcome == CheckOutcome.DOCUMENT,
            )
            .values(outcome=None),
            execution_options={"synchronize_session": False},
        )
        db.session.expire_all()
        app.status = Status.CHECKING
    else:
        evaluate(app)
        app.status = Status.REVIEW
    db.session.flush()


# --- spot checks (承诺制 after the fact) --------------------------------------------------


def _draw_spot_check(app: Application) -> None:
    share = float(_values()["spot_check_share"])
    if secrets.randbelow(10_000) < round(share * 10_000):
        db.session.add(SpotCheck(application_id=app.id))
        event(app, "spot_check_drawn", public=False)


def record_spot_check(spot: SpotCheck, officer: User, *, false_pledge: bool, finding: str) -> None:
    """The result of a spot check; a false pledge revokes the qualification."""
    app = spot.application
    _require_officer(app, officer)
    if spot.outcome is not None:
        raise InvalidTransition(_l("This spot check is already recorded."))
    finding = (finding or "").strip()
    if len(finding) < 4:
        raise ValidationFailed(_l("Describe what the check found."), field="finding")
    spot.outcome = "false_pledge" if false_pledge else "clean"
    spot.finding = finding
    spot.checked_by_id = officer.id
    spot.checked_at = utcnow()
    audit.record("application.spot_check", actor=officer, obj=app, outcome=spot.outcome)
    if false_pledge:
        revoke(app, officer, finding)
        from portal.credit.services import record_false_pledge

        record_false_pledge(app, finding)  # a V-FALSE-PLEDGE record, for a manager to confirm
    db.session.flush()


def revoke(app: Application, officer: User, reason: str) -> None:
    _require_status(app, Status.APPROVED, Status.NOTICE, Status.QUALIFIED)
    app.status = Status.REVOKED
    app.decision_reason = reason
    release_claims(app)
    event(app, "revoked", officer, reason=reason)
    audit.record("application.revoke", actor=officer, obj=app)
    tell_applicant(
        app,
        "revoked",
        {"reference": app.reference, "reason": reason},
        link=f"/applications/{app.id}",
    )


def expire_overdue_supplements(on: date | None = None) -> int:
    """Requests whose deadline passed unanswered expire; the file goes back to the officer,
    who decides with what there is (and the resident is told). Safe to run repeatedly."""
    on = on or today()
    overdue = db.session.scalars(
        sa.select(SupplementRequest)
        .where(SupplementRequest.status == SupplementStatus.OPEN, SupplementRequest.deadline < on)
        .order_by(SupplementRequest.id)
    ).all()
    for req in overdue:
        req.status = SupplementStatus.EXPIRED
        app = req.application
        event(app, "supplement_expired", document=req.document)
        audit.record("application.supplement_expired", actor="system", obj=app, request=req.id)
        if app.status is Status.SUPPLEMENT:
            evaluate(app)
            app.status = Status.REVIEW
    db.session.flush()
    return len(overdue)

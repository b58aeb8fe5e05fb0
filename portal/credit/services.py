"""Credit records (诚信体系): the violation catalogue, flagging and confirming violations (four
eyes), the subject's objection (异议) and credit repair (信用修复), the effects of a record
across the portal, and expiry.

The way of a record: an officer or a manager flags a violation (``flag_violation``: PENDING;
the portal itself flags a false pledge found in a spot check, rent arrears and a refusal to
vacate); a *different* manager confirms it (``confirm``: ACTIVE, SECURITY.md B4) or does not
(``reject``: REJECTED). Confirmed, it is published and takes effect: the subject's score
falls, a serious record bans the person from housing benefits (a ``CreditBan`` row screens
applications), a major or serious one suspends the household's place on the waiting list,
and a serious one asks for an exit case for a tenant. The subject is told and may object
within 15 working days (OBJECTED, still in force); a manager decides: granted, the record
is ANNULLED and its effects are lifted; refused, it is ACTIVE again. From ``repair_from``
the subject may ask for credit repair; granted, the record is REPAIRED (publication and ban
end). When both its publication and its ban have passed, the daily job EXPIRES it
(``expire_due``); bans stop screening on their end date anyway.

Every change is audited and, for the partners' feed, passed to
``portal.credit.lists.record_changed``. The pure rules (catalogue defaults, grades, score,
dates) are in ``portal/credit/rules.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.accounts.services import id_index, validated_id_number
from portal.applications.models import Application, HouseholdMember, Relationship, Status, Upload
from portal.core import audit
from portal.core.calendar import add_working_days
from portal.core.clock import CITY_TZ, today, utcnow
from portal.core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    SameActor,
    ValidationFailed,
)
from portal.core.i18n import current_locale, in_locale_of, params_in_locale_of
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import (
    is_valid_credit_code,
    mask_id_number,
    normalize_credit_code,
)
from portal.core.scope import lock_row, officer_district_ids
from portal.credit import rules
from portal.credit.models import (
    AppealKind,
    AppealStatus,
    ChangeAction,
    CreditAppeal,
    CreditBan,
    CreditChange,
    CreditRecord,
    Grade,
    RecordStatus,
    SubjectKind,
    ViolationType,
)
from portal.extensions import db
from portal.notifications.services import notify
from portal.tenancy.models import Lease, LeaseStatus

NAME_MAX = 120
FACTS_MIN = 10
FACTS_MAX = 4000
NOTE_MAX = 2000
REASON_MIN = 10  # an objection's or a repair request's reason
REASON_MAX = 2000
DECISION_MIN = 4
MAX_EVIDENCE = 10
MAX_APPEAL_FILES = 5
PAGE = 50
SEED_FROM = date(2000, 1, 1)  # version 1 of the catalogue applies from the start
CODE_MAX = 32
MEASURES_MAX = 2000
LEGAL_BASIS_MAX = 300

IN_FORCE = (RecordStatus.ACTIVE, RecordStatus.OBJECTED)
CONFIRMED = (
    RecordStatus.ACTIVE,
    RecordStatus.OBJECTED,
    RecordStatus.ANNULLED,
    RecordStatus.REPAIRED,
    RecordStatus.EXPIRED,
)
SOURCES = {
    "manual": _l("Flagged by staff"),
    "spot_check": _l("Spot check of a pledge"),
    "arrears": _l("Rent arrears (tenancy)"),
    "refuse_vacate": _l("Refusal to vacate (tenancy)"),
    "repeat": _l("Repeated general violations"),
}

PROBLEMS = {
    "points_range": lambda p: _l("Points are a whole number from 0 to %(max)d.", **p),
    "publish_range": lambda p: _l(
        "A violation of this grade is published for %(low)d to %(high)d months.", **p
    ),
    "ban_range": lambda p: _l("A ban lasts at most %(max)d months (0: none).", **p),
    "ban_serious_only": lambda p: _l("Only serious violations ban from housing benefits: enter 0."),
    "repair_range": lambda p: _l(
        "Credit repair may be asked after %(low)d to %(high)d months: not before the minimum "
        "publication period, not after the publication ends.",
        **p,
    ),
    "exit_not_general": lambda p: _l("A general violation does not open an exit case."),
}


# --- helpers ---------------------------------------------------------------------------------


_lock = lock_row


def _require_manager(user: User | None) -> None:
    if user is None or user.role is not Role.MANAGER:
        raise Forbidden()


def _text(value: str | None, field: str, low: int, high: int, short, long) -> str:
    value = (value or "").strip()
    if len(value) < low:
        raise ValidationFailed(short, field=field)
    if len(value) > high:
        raise ValidationFailed(long, field=field)
    return value


def _city_day(moment) -> date:
    return moment.astimezone(CITY_TZ).date()


def masked_subject(record: CreditRecord) -> str:
    """The subject's identifier as pages show it: a masked ID number, or the credit code
    (public data)."""
    if record.subject_kind is SubjectKind.PERSON:
        return mask_id_number(record.subject_id_number)
    return record.subject_code or ""


def violation_name(record: CreditRecord, locale: str | None = None) -> str:
    return record.violation_type.name(locale or current_locale())


# --- the catalogue ---------------------------------------------------------------------------


def _seed() -> None:
    """Version 1 of every code of RULES.md that has no version yet (first use)."""
    known = set(db.session.scalars(sa.select(ViolationType.code).distinct()))
    missing = [code for code in rules.DEFAULTS if code not in known]
    for code in missing:
        db.session.add(
            ViolationType(code=code, version=1, effective_from=SEED_FROM, **rules.DEFAULTS[code])
        )
    if missing:
        db.session.flush()


def _current_versions(on: date) -> dict[str, ViolationType]:
    rows = db.session.scalars(
        sa.select(ViolationType)
        .where(ViolationType.effective_from <= on)
        .order_by(
            ViolationType.code,
            ViolationType.effective_from.desc(),
            ViolationType.version.desc(),
        )
    ).all()
    current: dict[str, ViolationType] = {}
    for row in rows:
        current.setdefault(row.code, row)
    return current


def catalogue(on: date | None = None, *, include_retired: bool = False) -> list[ViolationType]:
    """The version of each code in force on ``on`` (today), in the order of RULES.md then
    by code; retired codes only if asked. Version 1 of each default code is stored on first
    use, so a record always points at a stored row."""
    _seed()
    current = _current_versions(on or today())
    order = {code: i for i, code in enumerate(rules.DEFAULTS)}
    rows = sorted(current.values(), key=lambda v: (order.get(v.code, len(order)), v.code))
    return [v for v in rows if include_retired or not v.retired]


def violation_type(code: str, on: date | None = None) -> ViolationType:
    """The version of ``code`` in force on ``on``; an unknown or retired code is refused."""
    _seed()
    found = _current_versions(on or today()).get((code or "").strip().upper())
    if found is None or found.retired:
        raise ValidationFailed(_l("Choose a violation from the catalogue."), field="code")
    return found


def versions_of(code: str) -> list[ViolationType]:
    """Every version of ``code``, the newest first (empty for an unknown code)."""
    _seed()
    return list(
        db.session.scalars(
            sa.select(ViolationType)
            .where(ViolationType.code == code)
            .order_by(ViolationType.version.desc())
        )
    )


def values_of(vtype: ViolationType) -> dict[str, Any]:
    """A version's catalogue fields (``rules.FIELDS``)."""
    return {f: getattr(vtype, f) for f in rules.FIELDS}


def _clean_version(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Typed, trimmed values of a version, or ValidationFailed naming the field."""
    values: dict[str, Any] = {}
    for field, limit in (("name_zh", NAME_MAX), ("name_en", 200)):
        values[field] = _text(
            raw.get(field),
            field,
            1,
            limit,
            _l("Enter the violation's name in both languages."),
            _l("Keep the name under %(count)d characters.", count=limit),
        )
    try:
        values["grade"] = Grade(raw.get("grade"))
    except ValueError as exc:
        raise ValidationFailed(_l("Choose the grade."), field="grade") from exc
    for field in ("points", "publish_months", "ban_months", "repair_after_months"):
        value = raw.get(field)
        try:
            values[field] = int(value)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(_l("Enter a whole number."), field=field) from exc
        if isinstance(value, float) and value != int(value):
            raise ValidationFailed(_l("Enter a whole number."), field=field)
    values["suspends_queue"] = bool(raw.get("suspends_queue"))
    values["opens_exit"] = bool(raw.get("opens_exit"))
    for field in ("measures_zh", "measures_en"):
        values[field] = _text(
            raw.get(field),
            field,
            1,
            MEASURES_MAX,
            _l("Describe the measures in both languages."),
            _l("Keep the measures under %(count)d characters.", count=MEASURES_MAX),
        )
    values["legal_basis"] = _text(
        raw.get("legal_basis"),
        "legal_basis",
        1,
        LEGAL_BASIS_MAX,
        _l("Give the legal basis (the regulation and its article)."),
        _l("Keep the legal basis under %(count)d characters.", count=LEGAL_BASIS_MAX),
    )
    for problem in rules.check_version(values):
        raise ValidationFailed(PROBLEMS[problem.code](problem.params), field=problem.field)
    return values


def _effective(effective_from: date | None) -> date:
    if not isinstance(effective_from, date):
        raise ValidationFailed(
            _l("Enter the date the version takes effect."), field="effective_from"
        )
    if effective_from < today():
        raise ValidationFailed(
            _l("A new version takes effect today or later; the past is not rewritten."),
            field="effective_from",
        )
    return effective_from


def _next_version(code: str) -> int:
    last = db.session.scalar(
        sa.select(sa.func.max(ViolationType.version)).where(ViolationType.code == code)
    )
    return (last or 0) + 1


def add_type_version(
    manager: User, code: str, raw: Mapping[str, Any], effective_from: date | None
) -> ViolationType:
    """A new version of ``code`` (a new code when it has none yet), in force from
    ``effective_from`` (today or later). Records already flagged keep their version."""
    _require_manager(manager)
    _seed()
    code = (code or "").strip().upper()
    if not rules.CODE_PATTERN.fullmatch(code) or len(code) > CODE_MAX:
        raise ValidationFailed(
            _l("A code starts with V- and has capital letters, digits and hyphens (V-NOISE)."),
            field="code",
        )
    values = _clean_version(raw)
    effective = _effective(effective_from)
    row = ViolationType(
        code=code,
        version=_next_version(code),
        effective_from=effective,
        created_by_id=manager.id,
        retired=False,
        **values,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "credit.catalogue_version",
        actor=manager,
        obj=row,
        code=code,
        version=row.version,
        effective_from=effective,
        grade=row.grade.value,
        points=row.points,
    )
    return row


def retire_type(manager: User, code: str, effective_from: date | None) -> ViolationType:
    """Retire ``code`` from ``effective_from``: a last version that can no longer be chosen
    for new records. Records already flagged keep theirs."""
    _require_manager(manager)
    current = violation_type(code)
    effective = _effective(effective_from)
    row = ViolationType(
        code=current.code,
        version=_next_version(current.code),
        effective_from=effective,
        created_by_id=manager.id,
        retired=True,
        **values_of(current),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "credit.catalogue_retire",
        actor=manager,
        obj=row,
        code=row.code,
        version=row.version,
        effective_from=effective,
    )
    return row


# --- subjects --------------------------------------------------------------------------------


def subject_index(kind: SubjectKind, identifier: str) -> str:
    """The blind index a record of this subject carries (the portal's ID-number index for
    persons, the same as ``User.id_number_index``)."""
    from portal.credit import lists

    return lists.subject_index(kind, identifier)


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    index: str
    id_number: str | None
    credit_code: str | None


def _subject(kind, id_number: str | None, credit_code: str | None) -> Subject:
    try:
        kind = SubjectKind(kind)
    except ValueError as exc:
        raise ValidationFailed(
            _l("Choose whether the subject is a person or an organisation."),
            field="subject_kind",
        ) from exc
    if kind is SubjectKind.PERSON:
        if not (id_number or "").strip():
            raise ValidationFailed(_l("Enter the person's ID number."), field="id_number")
        number = validated_id_number(id_number, field="id_number")
        return Subject(kind, id_index(number), number, None)
    code = normalize_credit_code(credit_code or "")
    if not code:
        raise ValidationFailed(
            _l("Enter the organisation's unified social credit code."), field="credit_code"
        )
    if not is_valid_credit_code(code):
        raise ValidationFailed(
            _l("This unified social credit code is not valid: please check each character."),
            field="credit_code",
        )
    return Subject(kind, subject_index(kind, code), None, code)


def subject_account(record: CreditRecord) -> User | None:
    """The resident account of the record's subject, if the person has one."""
    if record.subject_kind is not SubjectKind.PERSON:
        return None
    return db.session.scalars(
        sa.select(User).where(
            User.id_number_index == record.subject_index, User.role == Role.RESIDENT
        )
    ).first()


def _member_applications(index: str) -> sa.Select:
    return sa.select(HouseholdMember.application_id).where(HouseholdMember.id_index == index)


_district_ids = officer_district_ids


def _case_of(index: str, district_ids: list[int] | None) -> tuple[Application | None, Lease | None]:
    """The person's case the record belongs to: their household's active lease, or its
    latest application; only in ``district_ids`` when given (an officer's)."""
    apps = _member_applications(index)
    lease_stmt = (
        sa.select(Lease)
        .join(Application, Application.id == Lease.application_id)
        .where(Lease.status == LeaseStatus.ACTIVE, Lease.application_id.in_(apps))
        .order_by(Lease.id.desc())
        .limit(1)
    )
    app_stmt = (
        sa.select(Application)
        .where(Application.id.in_(apps), Application.status != Status.DRAFT)
        .order_by(Application.id.desc())
        .limit(1)
    )
    if district_ids is not None:
        lease_stmt = lease_stmt.where(Application.district_id.in_(district_ids))
        app_stmt = app_stmt.where(Application.district_id.in_(district_ids))
    lease = db.session.scalars(lease_stmt).first()
    if lease is not None:
        return lease.application, lease
    return db.session.scalars(app_stmt).first(), None


# --- scope -----------------------------------------------------------------------------------


def record_scope(user: User) -> sa.ColumnElement[bool]:
    """Records a staff member may see (SECURITY.md B1): managers all; an officer those they
    flagged, those of persons whose application or lease is in their districts, and those of
    organisations (city-wide)."""
    if user.role is Role.MANAGER:
        return sa.true()
    if user.role is not Role.OFFICER:
        return sa.false()
    apps = sa.select(Application.id).where(Application.district_id.in_(_district_ids(user)))
    leases = sa.select(Lease.id).where(Lease.application_id.in_(apps))
    return sa.or_(
        CreditRecord.flagged_by_id == user.id,
        CreditRecord.subject_kind == SubjectKind.ORGANISATION,
        CreditRecord.application_id.in_(apps),
        CreditRecord.lease_id.in_(leases),
    )


def subject_scope(user: User) -> sa.ColumnElement[bool]:
    """A resident's own confirmed records, found by the index of their ID number."""
    if user.role is not Role.RESIDENT or not user.id_number_index:
        return sa.false()
    return sa.and_(
        CreditRecord.subject_kind == SubjectKind.PERSON,
        CreditRecord.subject_index == user.id_number_index,
        CreditRecord.status.in_(CONFIRMED),
    )


def record_of_subject(user: User, reference: str) -> CreditRecord:
    """The resident's own record by its reference; anyone else's answers 404 (audited)."""
    reference = (reference or "").strip().upper()[:24]
    row = db.session.scalars(
        sa.select(CreditRecord).where(CreditRecord.reference == reference, subject_scope(user))
    ).one_or_none()
    if row is not None:
        return row
    existing = db.session.scalar(
        sa.select(CreditRecord.id).where(CreditRecord.reference == reference)
    )
    if existing is not None:
        audit.record(
            "access.out_of_scope",
            actor=user,
            object_type="credit_records",
            object_id=existing,
            result="denied",
        )
    raise NotFound()


def files_of(record: CreditRecord) -> list[Upload]:
    """The record's evidence and the files of its appeals."""
    appeal_files = [f for a in appeals_of(record) for f in a.files]
    return [*record.evidence, *appeal_files]


def file_of(record: CreditRecord, upload_id: int) -> Upload:
    """One of the record's files (evidence or an appeal's), else 404."""
    found = next((f for f in files_of(record) if f.id == upload_id), None)
    if found is None:
        raise NotFound()
    return found


# --- flagging --------------------------------------------------------------------------------


def _months(code: str, months) -> int | None:
    if code not in rules.MIN_MONTHS:
        return None
    if months in (None, ""):
        if code in rules.PER_MONTH:
            raise ValidationFailed(
                _l("Give the number of months this violation lasted."), field="months"
            )
        return None
    try:
        months = int(months)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_l("Enter a whole number of months."), field="months") from exc
    low = rules.MIN_MONTHS[code]
    if not low <= months <= rules.MAX_MONTHS:
        raise ValidationFailed(
            _l(
                "This violation counts from %(low)d months (at most %(high)d).",
                low=low,
                high=rules.MAX_MONTHS,
            ),
            field="months",
        )
    return months


def _occurred(occurred_on) -> date:
    if not isinstance(occurred_on, date):
        raise ValidationFailed(_l("Enter the date of the violation."), field="occurred_on")
    if occurred_on > today():
        raise ValidationFailed(
            _l("The violation cannot have happened in the future."), field="occurred_on"
        )
    if occurred_on < SEED_FROM:
        raise ValidationFailed(_l("Check the date of the violation."), field="occurred_on")
    return occurred_on


def _evidence_files(evidence: Iterable) -> list:
    files = [
        f
        for f in evidence or ()
        if isinstance(f, Upload) or (isinstance(f, FileStorage) and f.filename)
    ]
    if len(files) > MAX_EVIDENCE:
        raise ValidationFailed(
            _l("Attach at most %(count)d files.", count=MAX_EVIDENCE), field="evidence"
        )
    return files


def _save_files(owner: User, files: list, field: str) -> list[Upload]:
    from portal.core.uploads import save_upload

    return [f if isinstance(f, Upload) else save_upload(owner, f, field=field) for f in files]


def _open_duplicate(subject: Subject, code: str, **where) -> CreditRecord | None:
    stmt = (
        sa.select(CreditRecord)
        .join(ViolationType, ViolationType.id == CreditRecord.violation_type_id)
        .where(
            CreditRecord.subject_index == subject.index,
            ViolationType.code == code,
            CreditRecord.status.in_((RecordStatus.PENDING, *IN_FORCE)),
        )
        .order_by(CreditRecord.id.desc())
    )
    for column, value in where.items():
        stmt = stmt.where(getattr(CreditRecord, column) == value)
    return db.session.scalars(stmt).first()


def flag_violation(
    actor: User | None,
    *,
    subject_kind,
    id_number: str | None = None,
    credit_code: str | None = None,
    name: str,
    code: str,
    facts: str,
    occurred_on: date | None,
    evidence: Iterable = (),
    source: str = "manual",
    application: Application | None = None,
    lease: Lease | None = None,
    months: int | None = None,
) -> CreditRecord:
    """Flag a violation against a person (ID number) or an organisation (unified social
    credit code): a PENDING record that a manager other than ``actor`` confirms.

    ``actor`` None is the portal itself. Officers flag persons whose application or lease
    is in their districts (the record is linked to that case) and organisations anywhere;
    managers flag anyone. ``evidence``: uploaded files (checked like every upload), saved
    only when everything else is valid. ``months``: for violations counted in months
    (arrears, vacancy), which set the points and may make the record serious."""
    if actor is not None and actor.role not in (Role.OFFICER, Role.MANAGER):
        raise Forbidden()
    subject = _subject(subject_kind, id_number, credit_code)
    name = _text(
        name,
        "name",
        1,
        NAME_MAX,
        _l("Enter the subject's name."),
        _l("Keep the name under %(count)d characters.", count=NAME_MAX),
    )
    vtype = violation_type(code)
    months = _months(vtype.code, months)
    facts = _text(
        facts,
        "facts",
        FACTS_MIN,
        FACTS_MAX,
        _l(
            "Describe the facts in at least %(count)d characters: what happened, when and "
            "how it was found.",
            count=FACTS_MIN,
        ),
        _l("Keep the facts under %(count)d characters.", count=FACTS_MAX),
    )
    occurred_on = _occurred(occurred_on)
    if source not in SOURCES:
        raise ValidationFailed(_l("Unknown source."), field="source")
    files = _evidence_files(evidence)
    if files and actor is None:
        raise ValidationFailed(_l("Only staff attach evidence."), field="evidence")
    if subject.kind is SubjectKind.PERSON and application is None and lease is None:
        officer = actor is not None and actor.role is Role.OFFICER
        application, lease = _case_of(subject.index, _district_ids(actor) if officer else None)
        if officer and application is None:
            raise ValidationFailed(
                _l(
                    "This person has no application or tenancy in your districts: a manager "
                    "may flag the violation."
                ),
                field="id_number",
            )
    elif actor is not None and actor.role is Role.OFFICER:
        case = lease.application if lease is not None else application
        if case is not None and case.district_id not in _district_ids(actor):
            raise Forbidden()
    if lease is not None and application is None:
        application = lease.application
    grading = rules.graded(vtype.code, vtype.grade, vtype.points, months)
    duplicate = _open_duplicate(subject, vtype.code, occurred_on=occurred_on)
    if duplicate is not None and duplicate.grade is grading.grade:
        raise Conflict(
            _l(
                "This violation of the subject on that day is already recorded: %(reference)s.",
                reference=duplicate.reference,
            ),
            field="code",
        )
    record = CreditRecord(
        reference=f"new-{secrets.token_hex(8)}",  # unique until the id gives the reference
        subject_kind=subject.kind,
        subject_index=subject.index,
        subject_id_number=subject.id_number,
        subject_code=subject.credit_code,
        subject_name=name,
        violation_type_id=vtype.id,
        grade=grading.grade,
        points=grading.points,
        facts=facts,
        occurred_on=occurred_on,
        source=source,
        application_id=application.id if application is not None else None,
        lease_id=lease.id if lease is not None else None,
        status=RecordStatus.PENDING,
        flagged_by_id=actor.id if actor is not None else None,
        flagged_at=utcnow(),
    )
    db.session.add(record)
    db.session.flush()
    record.reference = f"CR{today().year}{record.id:06d}"
    if files:
        record.evidence = _save_files(actor, files, "evidence")
    db.session.flush()
    audit.record(
        "credit.flag",
        actor=actor or "system",
        obj=record,
        reference=record.reference,
        code=vtype.code,
        version=vtype.version,
        grade=record.grade.value,
        points=record.points,
        subject=masked_subject(record),
        source=source,
        months=months,
        evidence=len(record.evidence),
    )
    return record


# --- confirmation (four eyes) ----------------------------------------------------------------


def _decided(record: CreditRecord, manager: User, action: str) -> CreditRecord:
    _require_manager(manager)
    record = _lock(CreditRecord, record.id)
    if record.status is not RecordStatus.PENDING:
        raise InvalidTransition(_l("This record is no longer waiting for confirmation."))
    if record.flagged_by_id == manager.id:
        # the refused attempt is kept (persist): the audit log shows who tried
        audit.record(action, actor=manager, obj=record, result="denied", reason="same_actor")
        raise SameActor(
            _l(
                "You flagged this violation, so another manager must confirm or reject it "
                "(four eyes)."
            ),
            persist=True,
        )
    return record


def _record_periods(record: CreditRecord) -> dict[str, Any]:
    return rules.periods(values_of(record.violation_type), record.grade)


def confirm(record: CreditRecord, manager: User, note: str | None = None) -> CreditRecord:
    """A manager other than the one who flagged it confirms the record: it is in force from
    today, published, banning and with effects as its version says; the subject is told."""
    record = _decided(record, manager, "credit.confirm")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            _l("Keep the note under %(count)d characters.", count=NOTE_MAX), field="note"
        )
    periods = _record_periods(record)
    start = today()
    dates = rules.record_dates(
        start, periods["publish_months"], periods["ban_months"], periods["repair_after_months"]
    )
    record.status = RecordStatus.ACTIVE
    record.confirmed_by_id = manager.id
    record.confirmed_at = utcnow()
    record.decision_note = note or None
    record.starts_on = start
    record.publish_until = dates.publish_until
    record.ban_until = dates.ban_until
    record.repair_from = dates.repair_from
    record.object_by = add_working_days(start, rules.OBJECTION_WORKING_DAYS)
    db.session.flush()
    if record.subject_kind is SubjectKind.PERSON and record.ban_until is not None:
        vtype = record.violation_type
        db.session.add(
            CreditBan(
                id_index=record.subject_index,
                source=in_locale_of(
                    None,
                    lambda: _("Housing credit record %(reference)s", reference=record.reference),
                )[:120],
                reason=f"{vtype.name_zh} / {vtype.name_en}"[:500],
                starts_on=start,
                ends_on=record.ban_until,
                record_id=record.id,
            )
        )
    audit.record(
        "credit.confirm",
        actor=manager,
        obj=record,
        reference=record.reference,
        publish_until=record.publish_until,
        ban_until=record.ban_until,
        object_by=record.object_by,
    )
    _tell_subject(
        record,
        "credit_recorded",
        lambda: {
            "reference": record.reference,
            "violation": violation_name(record),
            "grade": str(record.grade.label),
            "points": record.points,
            "starts_on": record.starts_on,
            "publish_until": record.publish_until,
            "object_by": record.object_by,
        },
    )
    _apply_effects(record, periods)
    _feed(record, ChangeAction.LISTED)
    if record.grade is Grade.GENERAL:
        _check_repeat(record)
    db.session.flush()
    return record


def reject(record: CreditRecord, manager: User, note: str) -> CreditRecord:
    """A manager other than the one who flagged it does not confirm the record (with a
    reason). It stays in the history, never published and without effect."""
    record = _decided(record, manager, "credit.reject")
    note = _text(
        note,
        "note",
        DECISION_MIN,
        NOTE_MAX,
        _l("Say why the violation is not confirmed."),
        _l("Keep the note under %(count)d characters.", count=NOTE_MAX),
    )
    record.status = RecordStatus.REJECTED
    record.confirmed_by_id = manager.id
    record.confirmed_at = utcnow()
    record.decision_note = note
    audit.record("credit.reject", actor=manager, obj=record, reference=record.reference)
    db.session.flush()
    return record


def _check_repeat(record: CreditRecord) -> CreditRecord | None:
    """RULES.md: two or more general violations within two years are a serious one. On
    confirming a general record, the portal flags V-REPEAT (for a manager to confirm) when
    another general record of the subject was confirmed within two years."""
    since = rules.repeat_window_start(record.starts_on)
    others = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CreditRecord)
        .where(
            CreditRecord.subject_index == record.subject_index,
            CreditRecord.id != record.id,
            CreditRecord.grade == Grade.GENERAL,
            CreditRecord.status.in_((*IN_FORCE, RecordStatus.REPAIRED, RecordStatus.EXPIRED)),
            CreditRecord.starts_on >= since,
        )
    )
    if not others:
        return None
    subject = Subject(
        record.subject_kind, record.subject_index, record.subject_id_number, record.subject_code
    )
    if _open_duplicate(subject, rules.REPEAT_CODE) is not None:
        return None
    return flag_violation(
        None,
        subject_kind=record.subject_kind,
        id_number=record.subject_id_number,
        credit_code=record.subject_code,
        name=record.subject_name,
        code=rules.REPEAT_CODE,
        facts=in_locale_of(
            None,
            lambda: _(
                "%(count)d general violations within two years, the latest %(reference)s.",
                count=others + 1,
                reference=record.reference,
            ),
        ),
        occurred_on=record.starts_on,
        source="repeat",
        application=record.application_id and db.session.get(Application, record.application_id),
        lease=record.lease_id and db.session.get(Lease, record.lease_id),
    )


# --- telling the subject ---------------------------------------------------------------------


def _tell_subject(record: CreditRecord, kind: str, params) -> None:
    """Tell the subject's resident account (if the person has one) in their language;
    ``params`` is a function giving the message's values, called in that language."""
    user = subject_account(record)
    if user is None:
        return
    values = params_in_locale_of(user, params)
    notify(user, kind, values, link=f"/my/credit/{record.reference}")


# --- effects across the portal ---------------------------------------------------------------


def _queue_entries(index: str, *statuses) -> list:
    from portal.waitlist.models import QueueEntry

    return list(
        db.session.scalars(
            sa.select(QueueEntry)
            .where(
                QueueEntry.application_id.in_(_member_applications(index)),
                QueueEntry.status.in_(statuses),
            )
            .order_by(QueueEntry.id)
        )
    )


def _apply_effects(record: CreditRecord, periods: dict[str, Any]) -> None:
    """A confirmed person's record suspends their waiting household (major and serious)
    and asks for an exit case if they are a tenant (serious)."""
    if record.subject_kind is not SubjectKind.PERSON:
        return
    if periods["suspends_queue"]:
        from portal.waitlist import services as waitlist
        from portal.waitlist.models import EntryStatus

        # waiting households, and those already suspended for another credit record
        for entry in _queue_entries(
            record.subject_index, EntryStatus.WAITING, EntryStatus.SUSPENDED
        ):
            waitlist.suspend_for_credit(entry, record)
    if periods["opens_exit"]:
        exit_case_needed(record)


def _lift_effects(record: CreditRecord, actor, on: date) -> None:
    """The record no longer has effect from ``on``: its ban stops screening and the
    households it suspended are back on the list (unless another record suspends them)."""
    ban = db.session.scalars(sa.select(CreditBan).where(CreditBan.record_id == record.id)).first()
    yesterday = on - timedelta(days=1)
    if ban is not None and (ban.ends_on is None or ban.ends_on >= on):
        ban.ends_on = max(yesterday, ban.starts_on - timedelta(days=1))
    if record.subject_kind is SubjectKind.PERSON:
        from portal.waitlist import services as waitlist
        from portal.waitlist.models import EntryStatus

        for entry in _queue_entries(record.subject_index, EntryStatus.SUSPENDED):
            waitlist.lift_credit_suspension(entry, record, actor)
    db.session.flush()


def exit_case_needed(record: CreditRecord) -> Lease | None:
    """A serious record of a tenant: the lease goes to an exit case (reason CREDIT; the
    open case is kept if the lease already has one), and the officers of the lease's
    district are told. Returns the lease, or None if the person holds none."""
    from portal.tenancy import exits
    from portal.tenancy.models import ExitReason

    lease = None
    if record.lease_id is not None:
        lease = db.session.get(Lease, record.lease_id)
    if lease is None or lease.status is not LeaseStatus.ACTIVE:
        lease = db.session.scalars(
            sa.select(Lease)
            .where(
                Lease.status == LeaseStatus.ACTIVE,
                Lease.application_id.in_(_member_applications(record.subject_index)),
            )
            .order_by(Lease.id.desc())
            .limit(1)
        ).first()
    if lease is None:
        return None
    district_id = lease.application.district_id
    case = exits.open_case(
        lease,
        ExitReason.CREDIT,
        "system",
        facts=in_locale_of(
            None,
            lambda: _(
                "Credit record %(reference)s (%(violation)s) is in force; its measures include "
                "cancelling the lease and taking the home back.",
                reference=record.reference,
                violation=violation_name(record),
            ),
        ),
    )
    audit.record(
        "credit.exit_case_needed",
        actor="system",
        obj=lease,
        record=record.reference,
        lease=lease.reference,
        district=district_id,
        exit_case=case.reference,
    )
    officers = db.session.scalars(
        sa.select(User).where(
            User.role == Role.OFFICER,
            User.is_active.is_(True),
            User.districts.any(District.id == district_id),
        )
    ).all()
    for officer in officers:
        notify(
            officer,
            "credit_exit_case",
            params_in_locale_of(
                officer,
                lambda: {
                    "lease": lease.reference,
                    "reference": record.reference,
                    "violation": violation_name(record),
                    "case": case.reference,
                },
            ),
            link=f"/staff/tenancy/exits/{case.id}",
        )
    return lease


def _feed(record: CreditRecord, action: ChangeAction) -> None:
    """Pass the change to the partners' feed (``portal.credit.lists``)."""
    from portal.credit import lists

    lists.record_changed(record, action)


def _last_feed_action(record: CreditRecord) -> ChangeAction | None:
    return db.session.scalar(
        sa.select(CreditChange.action)
        .where(CreditChange.record_id == record.id)
        .order_by(CreditChange.id.desc())
        .limit(1)
    )


# --- the subject's side: objection and credit repair -----------------------------------------


def appeals_of(record: CreditRecord) -> list[CreditAppeal]:
    return list(
        db.session.scalars(
            sa.select(CreditAppeal)
            .where(CreditAppeal.record_id == record.id)
            .options(selectinload(CreditAppeal.files))
            .order_by(CreditAppeal.id)
        )
    )


def _open_appeal(record: CreditRecord, kind: AppealKind | None = None) -> CreditAppeal | None:
    stmt = sa.select(CreditAppeal).where(
        CreditAppeal.record_id == record.id, CreditAppeal.status == AppealStatus.OPEN
    )
    if kind is not None:
        stmt = stmt.where(CreditAppeal.kind == kind)
    return db.session.scalars(stmt).first()


def can_object(record: CreditRecord, on: date | None = None) -> bool:
    """Whether the subject may still object: ACTIVE, the period not over, not objected."""
    on = on or today()
    return (
        record.status is RecordStatus.ACTIVE
        and record.object_by is not None
        and on <= record.object_by
        and not any(a.kind is AppealKind.OBJECTION for a in appeals_of(record))
    )


def can_ask_repair(record: CreditRecord, on: date | None = None) -> bool:
    """Whether the subject may ask for credit repair: ACTIVE, from ``repair_from``, and no
    request already being decided."""
    on = on or today()
    return (
        record.status is RecordStatus.ACTIVE
        and record.repair_from is not None
        and on >= record.repair_from
        and _open_appeal(record, AppealKind.REPAIR) is None
    )


def _require_subject(user: User, record: CreditRecord) -> None:
    if (
        user.role is not Role.RESIDENT
        or record.subject_kind is not SubjectKind.PERSON
        or not user.id_number_index
        or user.id_number_index != record.subject_index
    ):
        raise Forbidden()


def _reason(reason: str | None) -> str:
    return _text(
        reason,
        "reason",
        REASON_MIN,
        REASON_MAX,
        _l(
            "Explain in at least %(count)d characters what is wrong and how you can show it.",
            count=REASON_MIN,
        ),
        _l("Keep the text under %(count)d characters.", count=REASON_MAX),
    )


def _appeal_files(files: Iterable) -> list:
    found = [f for f in files or () if isinstance(f, FileStorage) and f.filename]
    if len(found) > MAX_APPEAL_FILES:
        raise ValidationFailed(
            _l("Attach at most %(count)d files.", count=MAX_APPEAL_FILES), field="files"
        )
    return found


def _file_appeal(
    user: User, record: CreditRecord, kind: AppealKind, reason: str, files: list
) -> CreditAppeal:
    appeal = CreditAppeal(
        record_id=record.id,
        kind=kind,
        status=AppealStatus.OPEN,
        reason=reason,
        filed_by_id=user.id,
        filed_at=utcnow(),
        respond_by=add_working_days(today(), rules.DECISION_WORKING_DAYS),
    )
    db.session.add(appeal)
    db.session.flush()
    if files:
        appeal.files = _save_files(user, files, "files")
        db.session.flush()
    return appeal


def object_to_record(
    user: User, record: CreditRecord, reason: str, files: Iterable = ()
) -> CreditAppeal:
    """异议: the subject objects within the period (15 working days from confirmation). The
    record stays in force while a manager decides (within 10 working days)."""
    _require_subject(user, record)
    record = _lock(CreditRecord, record.id)
    if record.status is not RecordStatus.ACTIVE or record.object_by is None:
        raise InvalidTransition(_l("This record cannot be objected to in its current state."))
    if any(a.kind is AppealKind.OBJECTION for a in appeals_of(record)):
        raise Conflict(_l("You have already objected to this record."))
    if today() > record.object_by:
        raise InvalidTransition(
            _l(
                "The time to object ended on %(date)s. From %(repair)s you may ask for credit "
                "repair.",
                date=format_date(record.object_by),
                repair=format_date(record.repair_from),
            )
        )
    reason = _reason(reason)
    files = _appeal_files(files)
    appeal = _file_appeal(user, record, AppealKind.OBJECTION, reason, files)
    record.status = RecordStatus.OBJECTED
    audit.record(
        "credit.objection",
        actor=user,
        obj=appeal,
        reference=record.reference,
        respond_by=appeal.respond_by,
        files=len(appeal.files),
    )
    _feed(record, ChangeAction.UPDATED)
    db.session.flush()
    return appeal


def ask_repair(user: User, record: CreditRecord, reason: str, files: Iterable = ()) -> CreditAppeal:
    """信用修复: from ``repair_from`` the subject asks for the record's publication and ban to
    end (e.g. the arrears are paid); a manager decides within 10 working days."""
    _require_subject(user, record)
    record = _lock(CreditRecord, record.id)
    if record.status is not RecordStatus.ACTIVE or record.repair_from is None:
        raise InvalidTransition(_l("Credit repair cannot be asked for this record now."))
    if today() < record.repair_from:
        raise InvalidTransition(
            _l(
                "Credit repair may be asked from %(date)s.",
                date=format_date(record.repair_from),
            )
        )
    if _open_appeal(record, AppealKind.REPAIR) is not None:
        raise Conflict(_l("Your request for credit repair is already being decided."))
    reason = _reason(reason)
    files = _appeal_files(files)
    appeal = _file_appeal(user, record, AppealKind.REPAIR, reason, files)
    audit.record(
        "credit.repair_request",
        actor=user,
        obj=appeal,
        reference=record.reference,
        respond_by=appeal.respond_by,
        files=len(appeal.files),
    )
    db.session.flush()
    return appeal


def _end(record: CreditRecord, status: RecordStatus, reason: str, actor, on: date) -> None:
    record.status = status
    record.ended_on = on
    record.ended_reason = reason
    db.session.flush()
    _lift_effects(record, actor, on)
    _feed(record, ChangeAction.REMOVED)


def decide_appeal(
    appeal: CreditAppeal, manager: User, *, granted: bool, reason: str
) -> CreditAppeal:
    """A manager decides an objection or a request for repair, with a reason the subject
    receives. Objection granted: the record is annulled, its effects lifted; refused: it is
    in force again. Repair granted: publication and ban end; refused: nothing changes."""
    _require_manager(manager)
    appeal = _lock(CreditAppeal, appeal.id)
    if appeal.status is not AppealStatus.OPEN:
        raise InvalidTransition(_l("This request is already decided."))
    reason = _text(
        reason,
        "reason",
        DECISION_MIN,
        REASON_MAX,
        _l("Give the reason, in words the subject understands."),
        _l("Keep the text under %(count)d characters.", count=REASON_MAX),
    )
    record = _lock(CreditRecord, appeal.record_id)
    objection = appeal.kind is AppealKind.OBJECTION
    expected = RecordStatus.OBJECTED if objection else RecordStatus.ACTIVE
    if record.status is not expected:
        raise InvalidTransition(_l("The record has changed; this request cannot be decided."))
    appeal.status = AppealStatus.GRANTED if granted else AppealStatus.REFUSED
    appeal.decided_by_id = manager.id
    appeal.decided_at = utcnow()
    appeal.decision_reason = reason
    on = today()
    if objection and granted:
        _end(record, RecordStatus.ANNULLED, reason, manager, on)
        kind = "credit_objection_granted"
    elif objection:
        record.status = RecordStatus.ACTIVE
        _feed(record, ChangeAction.UPDATED)
        kind = "credit_objection_refused"
    elif granted:
        _end(record, RecordStatus.REPAIRED, reason, manager, on)
        kind = "credit_repair_granted"
    else:
        kind = "credit_repair_refused"
    audit.record(
        "credit.decide",
        actor=manager,
        obj=appeal,
        reference=record.reference,
        kind=appeal.kind.value,
        outcome=appeal.status.value,
        record_status=record.status.value,
    )
    _tell_subject(record, kind, lambda: {"reference": record.reference, "reason": reason})
    db.session.flush()
    return appeal


def open_appeals() -> list[CreditAppeal]:
    """Objections and repair requests waiting for a manager, the most urgent first."""
    return list(
        db.session.scalars(
            sa.select(CreditAppeal)
            .where(CreditAppeal.status == AppealStatus.OPEN)
            .options(selectinload(CreditAppeal.record))
            .order_by(CreditAppeal.respond_by, CreditAppeal.id)
        )
    )


# --- expiry ----------------------------------------------------------------------------------


def expire_due(on: date | None = None) -> dict[str, int]:
    """The daily job. A record whose publication has passed leaves the published list; one
    whose publication and ban have both passed EXPIRES, its effects lifted and the subject
    told. Records with a request still being decided wait for the decision. Safe to run
    again."""
    on = on or today()
    open_appeal = (
        sa.select(CreditAppeal.id)
        .where(CreditAppeal.record_id == CreditRecord.id, CreditAppeal.status == AppealStatus.OPEN)
        .exists()
    )
    past = db.session.scalars(
        sa.select(CreditRecord)
        .where(
            CreditRecord.status.in_(IN_FORCE),
            CreditRecord.publish_until < on,
            ~open_appeal,
        )
        .order_by(CreditRecord.id)
    ).all()
    expired = unpublished = 0
    for record in past:
        if record.ban_until is not None and record.ban_until >= on:
            # published no longer, still banning: off the partners' list once
            if _last_feed_action(record) not in (None, ChangeAction.REMOVED):
                _feed(record, ChangeAction.REMOVED)
                unpublished += 1
            continue
        record = _lock(CreditRecord, record.id)
        ended = max(record.publish_until, record.ban_until or record.publish_until)
        record.status = RecordStatus.EXPIRED
        record.ended_on = ended + timedelta(days=1)
        record.ended_reason = None
        db.session.flush()
        _lift_effects(record, "system:scheduler", on)
        if _last_feed_action(record) is not ChangeAction.REMOVED:
            _feed(record, ChangeAction.REMOVED)
        audit.record(
            "credit.expire", actor="system:scheduler", obj=record, reference=record.reference
        )
        _tell_subject(record, "credit_expired", lambda r=record: {"reference": r.reference})
        expired += 1
    db.session.flush()
    return {"expired": expired, "unpublished": unpublished}


# --- score -----------------------------------------------------------------------------------


def in_force(subject_index: str, on: date | None = None) -> list[CreditRecord]:
    """The subject's records in force on ``on``: ACTIVE or OBJECTED, within publication."""
    on = on or today()
    return list(
        db.session.scalars(
            sa.select(CreditRecord)
            .where(
                CreditRecord.subject_index == subject_index,
                CreditRecord.status.in_(IN_FORCE),
                CreditRecord.starts_on <= on,
                CreditRecord.publish_until >= on,
            )
            .order_by(CreditRecord.id)
        )
    )


def score(subject_index: str, on: date | None = None) -> tuple[int, str]:
    """The subject's credit score (100 minus the points in force) and grade (A-D)."""
    value = rules.score_of(r.points for r in in_force(subject_index, on))
    return value, rules.grade_of(value)


# --- reading (pages and API) -----------------------------------------------------------------


def records_of_subject(user: User) -> list[CreditRecord]:
    """The resident's own confirmed records, the newest first."""
    return list(
        db.session.scalars(
            sa.select(CreditRecord)
            .where(subject_scope(user))
            .options(selectinload(CreditRecord.violation_type))
            .order_by(CreditRecord.id.desc())
        )
    )


@dataclass
class RecordFilter:
    status: RecordStatus | None = None
    grade: Grade | None = None
    q: str = ""


def _search(q: str) -> sa.ColumnElement[bool] | None:
    """A reference, a whole ID number or credit code (by index), or part of a name."""
    q = q.strip()[:60]
    if not q:
        return None
    from portal.core.identifiers import is_valid_id_number, normalize_id_number

    number = normalize_id_number(q)
    if is_valid_id_number(number):
        return CreditRecord.subject_index == id_index(number)
    code = normalize_credit_code(q)
    if is_valid_credit_code(code):
        return CreditRecord.subject_index == subject_index(SubjectKind.ORGANISATION, code)
    return sa.or_(
        CreditRecord.reference == q.upper(),
        CreditRecord.subject_name.contains(q, autoescape=True),
    )


def records_page(
    user: User, filters: RecordFilter, before: int | None = None, limit: int = PAGE
) -> tuple[list[CreditRecord], int | None]:
    """Records the staff member may see, newest first, keyset-paginated (``before`` a
    record id); returns the page and the cursor of the next one."""
    stmt = (
        sa.select(CreditRecord)
        .where(record_scope(user))
        .options(selectinload(CreditRecord.violation_type))
        .order_by(CreditRecord.id.desc())
        .limit(limit + 1)
    )
    if filters.status is not None:
        stmt = stmt.where(CreditRecord.status == filters.status)
    if filters.grade is not None:
        stmt = stmt.where(CreditRecord.grade == filters.grade)
    found = _search(filters.q)
    if found is not None:
        stmt = stmt.where(found)
    if before:
        stmt = stmt.where(CreditRecord.id < before)
    rows = db.session.scalars(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return list(rows), (rows[-1].id if more and rows else None)


def workload(user: User) -> dict[str, int]:
    """Counts for the workbench: records waiting for confirmation (by others) and open
    requests (managers)."""
    if user.role is not Role.MANAGER:
        return {"pending": 0, "appeals": 0}
    pending = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CreditRecord)
        .where(
            CreditRecord.status == RecordStatus.PENDING,
            sa.or_(CreditRecord.flagged_by_id.is_(None), CreditRecord.flagged_by_id != user.id),
        )
    )
    appeals = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CreditAppeal)
        .where(CreditAppeal.status == AppealStatus.OPEN)
    )
    return {"pending": pending, "appeals": appeals}


# --- texts other parts of the portal show ----------------------------------------------------


def ban_refusal(record_id: int) -> str | None:
    """Why an application is refused for a ban from a record, in the reader's language:
    the record, its violation and the ban's end date."""
    record = db.session.get(CreditRecord, record_id)
    if record is None:
        return None
    ban = db.session.scalars(sa.select(CreditBan).where(CreditBan.record_id == record.id)).first()
    until = ban.ends_on if ban is not None and ban.ends_on else record.ban_until
    return _(
        "A member of the household is barred from housing benefits until %(until)s by credit "
        "record %(reference)s: %(violation)s.",
        until=format_date(until) if until else "—",
        reference=record.reference,
        violation=violation_name(record),
    )


def queue_suspension_sentence(params: dict[str, Any]) -> str:
    """Why a waiting household is suspended for a credit record, in the reader's language."""
    record = db.session.get(CreditRecord, params.get("record"))
    reference = params.get("reference", "")
    if record is None:
        return _(
            "A credit record of a household member is in force: %(reference)s.", reference=reference
        )
    return _(
        "A credit record of a household member is in force: %(reference)s, %(violation)s "
        "(%(grade)s). The household's place comes back when the record is annulled, repaired "
        "or expires.",
        reference=record.reference,
        violation=violation_name(record),
        grade=record.grade.label,
    )


# --- records the portal makes itself ---------------------------------------------------------


def _applicant(app: Application) -> HouseholdMember:
    return next((m for m in app.members if m.relation is Relationship.APPLICANT), app.members[0])


def record_false_pledge(app: Application, finding: str) -> CreditRecord:
    """A spot check found the applicant's pledge false: a V-FALSE-PLEDGE record of the
    applicant, flagged by the portal, for a manager to confirm."""
    member = _applicant(app)
    signed = _city_day(app.signed_at) if app.signed_at else today()
    return flag_violation(
        None,
        subject_kind=SubjectKind.PERSON,
        id_number=member.id_number,
        name=member.name,
        code=rules.FALSE_PLEDGE_CODE,
        facts=in_locale_of(
            None,
            lambda: _(
                "A spot check of application %(reference)s found the pledge false: %(finding)s",
                reference=app.reference,
                finding=finding,
            ),
        ),
        occurred_on=min(signed, today()),
        source="spot_check",
        application=app,
    )


def _tenant_subject(lease: Lease) -> tuple[str, str]:
    tenant = lease.tenant
    if tenant.id_number:
        return tenant.id_number, tenant.real_name
    member = _applicant(lease.application)
    return member.id_number, member.name


def record_arrears(lease: Lease, months: int) -> CreditRecord:
    """Rent of ``lease`` unpaid for ``months`` months (the tenancy calls this from
    ``rules.ARREARS_RECORD_MONTHS``): a V-ARREARS record of the tenant, 5 points a month,
    serious from 12 months, for a manager to confirm. Calling again returns the record
    already open for the lease unless the arrears have now become serious."""
    id_number, name = _tenant_subject(lease)
    subject = _subject(SubjectKind.PERSON, id_number, None)
    vtype = violation_type(rules.ARREARS_CODE)
    months = _months(vtype.code, months)
    grading = rules.graded(vtype.code, vtype.grade, vtype.points, months)
    existing = _open_duplicate(subject, vtype.code, lease_id=lease.id)
    if existing is not None and (existing.grade is Grade.SERIOUS or not grading.escalated):
        return existing
    return flag_violation(
        None,
        subject_kind=SubjectKind.PERSON,
        id_number=id_number,
        name=name,
        code=rules.ARREARS_CODE,
        facts=in_locale_of(
            None,
            lambda: _(
                "The rent of lease %(lease)s has been unpaid for %(months)d months.",
                lease=lease.reference,
                months=months,
            ),
        ),
        occurred_on=today(),
        source="arrears",
        application=lease.application,
        lease=lease,
        months=months,
    )


def record_refusal_to_vacate(lease: Lease) -> CreditRecord:
    """The tenant of ``lease`` refuses to vacate the home after the lease ended or was
    cancelled: a V-REFUSE-VACATE record, for a manager to confirm. Calling again returns
    the record already open for the lease."""
    id_number, name = _tenant_subject(lease)
    subject = _subject(SubjectKind.PERSON, id_number, None)
    existing = _open_duplicate(subject, rules.REFUSE_VACATE_CODE, lease_id=lease.id)
    if existing is not None:
        return existing
    return flag_violation(
        None,
        subject_kind=SubjectKind.PERSON,
        id_number=id_number,
        name=name,
        code=rules.REFUSE_VACATE_CODE,
        facts=in_locale_of(
            None,
            lambda: _(
                "The tenant of lease %(lease)s refuses to vacate the home.",
                lease=lease.reference,
            ),
        ),
        occurred_on=today(),
        source="refuse_vacate",
        application=lease.application,
        lease=lease,
    )


def history(record: CreditRecord) -> list[dict[str, Any]]:
    """The record's steps for its page: flagged, confirmed or rejected, each appeal and its
    decision, the end."""
    steps: list[dict[str, Any]] = [
        {"at": record.flagged_at, "what": "flagged", "by": record.flagged_by}
    ]
    if record.confirmed_at is not None:
        steps.append(
            {
                "at": record.confirmed_at,
                "what": "rejected" if record.status is RecordStatus.REJECTED else "confirmed",
                "by": record.confirmed_by,
                "note": record.decision_note,
            }
        )
    for appeal in appeals_of(record):
        steps.append(
            {"at": appeal.filed_at, "what": f"{appeal.kind.value}_filed", "appeal": appeal}
        )
        if appeal.decided_at is not None:
            steps.append(
                {
                    "at": appeal.decided_at,
                    "what": f"{appeal.kind.value}_{appeal.status.value}",
                    "appeal": appeal,
                    "note": appeal.decision_reason,
                }
            )
    if record.status is RecordStatus.EXPIRED:
        steps.append({"at": None, "day": record.ended_on, "what": "expired"})
    return steps

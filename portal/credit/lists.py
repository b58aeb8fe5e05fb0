"""Joint-punishment lists (联合惩戒): what is published, the list of subjects meeting the
thresholds, the feed partner agencies pull, the lists they push in, and the exports.

One schema leaves the portal (SECURITY.md C2, D6): :data:`SCHEMA`, the allow-listed fields of
a record, the same in the pull API, the list API and every export format (documented with an
example in docs/credit-lists.md). A person is named by surname and ``*`` and by a masked ID
number; an organisation by its full name and unified social credit code (public data). The
facts, the evidence, the staff who flagged and confirmed, and whole ID numbers never leave.

RULES.md: a record is *in force* while ACTIVE or OBJECTED within its publication period; a
subject's score is 100 minus the points of its records in force; the joint-punishment list
holds the subjects with a serious record in force or a score below 70.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import ApiClient, User
from portal.accounts.roles import Role
from portal.accounts.services import id_index
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.crypto import protector
from portal.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import (
    IdNumberError,
    is_valid_credit_code,
    mask_id_number,
    normalize_credit_code,
    parse_id_number,
)
from portal.credit import rules
from portal.credit.models import (
    ChangeAction,
    CreditBan,
    CreditChange,
    CreditRecord,
    ExternalListing,
    Grade,
    RecordStatus,
    SubjectKind,
    ViolationType,
)
from portal.exports.models import Export
from portal.exports.services import ExportKind, Progress
from portal.extensions import db
from portal.notices.services import mask_name

# --- the schema ----------------------------------------------------------------------------

SCHEMA: tuple[str, ...] = (
    "reference",
    "subject_kind",
    "subject_name",
    "subject_id",
    "violation_code",
    "violation_name_zh",
    "violation_name_en",
    "grade",
    "measures_zh",
    "measures_en",
    "legal_basis",
    "starts_on",
    "publish_until",
    "ban_until",
    "status",
    "removed",
    "removed_reason",
)
"""The only fields of a record that leave the portal, in this order (CSV and XLSX columns,
JSON keys). ``removed_reason`` is ``annulled``, ``repaired`` or ``expired`` on a removal,
otherwise null."""

IN_FORCE = (RecordStatus.ACTIVE, RecordStatus.OBJECTED)
REMOVALS = {
    RecordStatus.ANNULLED: "annulled",
    RecordStatus.REPAIRED: "repaired",
    RecordStatus.EXPIRED: "expired",
}
NEVER_PUBLISHED = (RecordStatus.PENDING, RecordStatus.REJECTED)

JOINT_SCORE_BELOW = 70  # RULES.md: a score below this puts the subject on the list

PUBLIC_PAGE = 30
MAX_PULL = 10_000
MAX_LIST_PAGE = 1000
MAX_PUSH = 5000
EXPORT_BATCH = 5000
CREDIT_CODE_PURPOSE = "credit_code"


def subject_index(kind: SubjectKind, identifier: str) -> str:
    """The blind index of a subject: the portal's ID-number index for persons (the same as
    ``User.id_number_index`` and ``CreditBan.id_index``), a keyed index of the unified social
    credit code for organisations."""
    if kind is SubjectKind.PERSON:
        return id_index(identifier)
    return protector().blind_index(identifier, CREDIT_CODE_PURPOSE)


def _day(value: date | str | None) -> str | None:
    """A date as ``YYYY-MM-DD`` (exports read SQLite's dates as the text they are stored as)."""
    if value is None or value.__class__ is str:
        return value
    return value.isoformat()


TypeFields = tuple[str, str, str, str, str, str]


def _type_fields(vtype: ViolationType) -> TypeFields:
    """What a record shows of its catalogue entry."""
    return (
        vtype.code,
        vtype.name_zh,
        vtype.name_en,
        vtype.measures_zh,
        vtype.measures_en,
        vtype.legal_basis,
    )


def _values(
    reference: str,
    kind: SubjectKind | str,
    name: str,
    id_number: str | None,
    code: str | None,
    type_fields: TypeFields,
    grade: Grade | str,
    starts_on: date | str | None,
    publish_until: date | str | None,
    ban_until: date | str | None,
    status: RecordStatus | str,
    removed_reason: str | None = None,
    tabular: bool = False,
) -> list[Any]:
    """The values of :data:`SCHEMA`, in its order: the one place fields are chosen. Enums
    may come as their text (``str()`` of either is the value), as exports read them;
    ``tabular`` writes ``removed`` as the text ``true``/``false`` (CSV and XLSX cells)."""
    person = kind == SubjectKind.PERSON
    removed = removed_reason is not None
    vcode, name_zh, name_en, measures_zh, measures_en, legal_basis = type_fields
    return [
        reference,
        str(kind),
        mask_name(name) if person else name,
        mask_id_number(id_number) if person else (code or ""),
        vcode,
        name_zh,
        name_en,
        str(grade),
        measures_zh,
        measures_en,
        legal_basis,
        _day(starts_on),
        _day(publish_until),
        _day(ban_until),
        str(status),
        ("true" if removed else "false") if tabular else removed,
        removed_reason,
    ]


def payload_of(record: CreditRecord, removed_reason: str | None = None) -> dict[str, Any]:
    """The allow-listed fields of ``record``, as partners receive them."""
    person = record.subject_kind is SubjectKind.PERSON
    values = _values(
        record.reference,
        record.subject_kind,
        record.subject_name,
        record.subject_id_number if person else None,
        record.subject_code,
        _type_fields(record.violation_type),
        record.grade,
        record.starts_on,
        record.publish_until,
        record.ban_until,
        record.status,
        removed_reason,
    )
    return dict(zip(SCHEMA, values, strict=True))


def _compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --- the feed ------------------------------------------------------------------------------


def record_changed(record: CreditRecord, action: ChangeAction) -> CreditChange | None:
    """Write the change partners pull, for a record that is or was published.

    A record never confirmed is never sent. A record that has ended (annulled, repaired,
    expired) is sent as a removal, and only if it was sent before; an update of a record
    not sent yet is sent as a listing. Returns the change, or None when nothing is sent.
    """
    if record.status in NEVER_PUBLISHED:
        return None
    sent = db.session.scalar(sa.select(sa.exists().where(CreditChange.record_id == record.id)))
    reason = None
    if action is ChangeAction.REMOVED or record.status in REMOVALS:
        if not sent:
            return None
        action = ChangeAction.REMOVED
        reason = REMOVALS.get(record.status, "expired")
    elif not sent:
        action = ChangeAction.LISTED
    change = CreditChange(
        record_id=record.id,
        action=action,
        at=utcnow(),
        payload_json=_compact(payload_of(record, reason)),
    )
    db.session.add(change)
    db.session.flush()
    return change


@dataclass
class PulledChanges:
    body: bytes
    count: int
    next_cursor: int
    has_more: bool


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def pull_changes(client: ApiClient | User | None, cursor: int, limit: int) -> PulledChanges:
    """The changes after ``cursor`` (a change id), oldest first, at most ``limit``, as the
    exact JSON bytes that are signed and sent. Each pull is audited."""
    if cursor < 0:
        raise ValidationFailed(_l("The cursor is a change id, 0 or more."), field="cursor")
    if not 1 <= limit <= MAX_PULL:
        raise ValidationFailed(
            _l("Ask for 1 to %(max)d changes at a time.", max=MAX_PULL), field="limit"
        )
    rows = db.session.execute(
        sa.select(CreditChange.id, CreditChange.action, CreditChange.at, CreditChange.payload_json)
        .where(CreditChange.id > cursor)
        .order_by(CreditChange.id)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = rows[-1][0] if rows else cursor
    # the stored payloads are already the allow-listed JSON: joined, not parsed again
    items = ",".join(
        f'{{"id":{cid},"action":"{action.value}","at":"{_stamp(at)}","record":{payload}}}'
        for cid, action, at, payload in rows
    )
    body = (
        f'{{"changes":[{items}],"next_cursor":{next_cursor},'
        f'"has_more":{"true" if has_more else "false"}}}'
    ).encode()
    audit.record(
        "credit.changes_pulled",
        actor=client,
        cursor=cursor,
        count=len(rows),
        next_cursor=next_cursor,
    )
    return PulledChanges(body, len(rows), next_cursor, has_more)


# --- what is published ---------------------------------------------------------------------


def in_force(on: date) -> list[sa.ColumnElement[bool]]:
    """Conditions of a record in force on ``on``: ACTIVE or OBJECTED, within its publication."""
    return [
        CreditRecord.status.in_(IN_FORCE),
        CreditRecord.starts_on <= on,
        CreditRecord.publish_until >= on,
    ]


def _search(q: str) -> sa.ColumnElement[bool] | None:
    """The public page's search: a record's reference, or an organisation by name or credit
    code. Persons are not searchable by name (their names are masked)."""
    q = q.strip()[:120]
    if not q:
        return None
    org = CreditRecord.subject_kind == SubjectKind.ORGANISATION
    found = [
        CreditRecord.reference == q.upper(),
        sa.and_(org, CreditRecord.subject_name.contains(q, autoescape=True)),
    ]
    code = normalize_credit_code(q)
    if is_valid_credit_code(code):
        found.append(sa.and_(org, CreditRecord.subject_code == code))
    return sa.or_(*found)


def published_records(
    on: date | None = None,
    *,
    q: str = "",
    before: int | None = None,
    limit: int = PUBLIC_PAGE,
) -> tuple[list[CreditRecord], int | None]:
    """Records in force on ``on`` (default today), newest first, keyset-paginated: the page
    after ``before`` (a record id) and the cursor of the next page (None at the end)."""
    on = on or today()
    stmt = (
        sa.select(CreditRecord)
        .where(*in_force(on))
        .options(selectinload(CreditRecord.violation_type))
        .order_by(CreditRecord.id.desc())
        .limit(limit + 1)
    )
    found = _search(q)
    if found is not None:
        stmt = stmt.where(found)
    if before:
        stmt = stmt.where(CreditRecord.id < before)
    rows = db.session.scalars(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


# --- the joint-punishment list -------------------------------------------------------------


def _points():
    return sa.func.sum(CreditRecord.points)


def _serious():
    return sa.func.max(sa.case((CreditRecord.grade == Grade.SERIOUS, 1), else_=0))


def _qualifies(points, serious) -> sa.ColumnElement[bool]:
    """RULES.md: a serious record in force, or a score (100 - points) below 70."""
    return sa.or_(serious == 1, points > rules.BASE_SCORE - JOINT_SCORE_BELOW)


def listed_subjects(on: date) -> sa.Select:
    """Subjects on the joint-punishment list on ``on`` with their points, computed for all
    subjects at once in SQL: one group per subject over its records in force."""
    points = _points()
    serious = _serious()
    return (
        sa.select(
            CreditRecord.subject_index.label("subject_index"),
            points.label("points"),
            serious.label("serious"),
        )
        .where(*in_force(on))
        .group_by(CreditRecord.subject_index)
        .having(_qualifies(points, serious))
    )


@dataclass
class ListedSubject:
    subject_index: str
    kind: SubjectKind
    name: str  # masked for persons
    subject_id: str  # masked ID number, or the credit code
    score: int
    grade: str
    records: list[CreditRecord] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {
            "subject_kind": self.kind.value,
            "subject_name": self.name,
            "subject_id": self.subject_id,
            "score": self.score,
            "credit_grade": self.grade,
            "records": [payload_of(r) for r in self.records],
        }


def joint_list(
    on: date | None = None, *, after: str = "", limit: int = 50
) -> tuple[list[ListedSubject], str | None]:
    """A page of the joint-punishment list on ``on`` (default today) with each subject's
    records in force, keyset-paginated by the subject's index; and the next page's cursor."""
    on = on or today()
    page = db.session.execute(
        listed_subjects(on)
        .where(CreditRecord.subject_index > (after or ""))
        .order_by(CreditRecord.subject_index)
        .limit(limit + 1)
    ).all()
    more = len(page) > limit
    page = page[:limit]
    if not page:
        return [], None
    records = db.session.scalars(
        sa.select(CreditRecord)
        .where(CreditRecord.subject_index.in_([p.subject_index for p in page]), *in_force(on))
        .options(selectinload(CreditRecord.violation_type))
        .order_by(CreditRecord.subject_index, CreditRecord.id)
    ).all()
    by_subject: dict[str, list[CreditRecord]] = {}
    for r in records:
        by_subject.setdefault(r.subject_index, []).append(r)
    subjects = []
    for p in page:
        mine = by_subject.get(p.subject_index, [])
        latest = mine[-1]
        person = latest.subject_kind is SubjectKind.PERSON
        score = rules.score_of([int(p.points or 0)])
        subjects.append(
            ListedSubject(
                subject_index=p.subject_index,
                kind=latest.subject_kind,
                name=mask_name(latest.subject_name) if person else latest.subject_name,
                subject_id=(
                    mask_id_number(latest.subject_id_number) if person else latest.subject_code
                )
                or "",
                score=score,
                grade=rules.grade_of(score),
                records=mine,
            )
        )
    return subjects, (page[-1].subject_index if more else None)


@dataclass
class ListSummary:
    subjects: int
    persons: int
    organisations: int
    by_credit_grade: dict[str, int]
    records_by_grade: dict[Grade, int]


def joint_summary(on: date | None = None) -> ListSummary:
    """Counts for the managers' page: subjects by kind and credit grade, records by grade."""
    on = on or today()
    listed = listed_subjects(on).subquery()
    points = listed.c.points
    letter = sa.case(
        *((points <= rules.BASE_SCORE - floor, grade) for floor, grade in rules.SCORE_GRADES),
        else_="D",
    )
    by_letter = dict(db.session.execute(sa.select(letter, sa.func.count()).group_by(letter)).all())
    in_list = CreditRecord.subject_index.in_(sa.select(listed.c.subject_index))
    by_grade = dict(
        db.session.execute(
            sa.select(CreditRecord.grade, sa.func.count())
            .where(*in_force(on), in_list)
            .group_by(CreditRecord.grade)
        ).all()
    )
    kinds = sa.select(CreditRecord.subject_index, sa.func.max(CreditRecord.subject_kind).label("k"))
    kinds = kinds.where(*in_force(on), in_list).group_by(CreditRecord.subject_index).subquery()
    by_kind = dict(
        db.session.execute(sa.select(kinds.c.k, sa.func.count()).group_by(kinds.c.k)).all()
    )
    return ListSummary(
        subjects=sum(by_letter.values()),
        persons=int(by_kind.get(SubjectKind.PERSON, 0)),
        organisations=int(by_kind.get(SubjectKind.ORGANISATION, 0)),
        by_credit_grade={g: int(by_letter.get(g, 0)) for g in ("A", "B", "C", "D")},
        records_by_grade={g: int(by_grade.get(g, 0)) for g in Grade},
    )


def joint_list_body(
    client: ApiClient | User | None, on: date | None, after: str, limit: int
) -> bytes:
    """A page of the joint list as the exact JSON bytes the API signs; audited."""
    if not 1 <= limit <= MAX_LIST_PAGE:
        raise ValidationFailed(
            _l("Ask for 1 to %(max)d subjects at a time.", max=MAX_LIST_PAGE), field="limit"
        )
    on = on or today()
    subjects, next_after = joint_list(on, after=after, limit=limit)
    body = _compact(
        {
            "on": on.isoformat(),
            "subjects": [s.payload() for s in subjects],
            "next_after": next_after,
            "has_more": next_after is not None,
        }
    ).encode()
    audit.record("credit.list_pulled", actor=client, after=after[:16], count=len(subjects), on=on)
    return body


# --- exports -------------------------------------------------------------------------------


def _as_stored(column: sa.ColumnElement) -> sa.ColumnElement:
    """A column read as stored, without Python conversion (enums and dates are text on
    SQLite; PostgreSQL's driver still returns dates, which :func:`_day` writes out)."""
    return sa.type_coerce(column, sa.String).label(column.key)


_ROW_COLUMNS = (
    CreditRecord.id,
    CreditRecord.reference,
    _as_stored(CreditRecord.subject_kind),
    CreditRecord.subject_name,
    # decrypted by the caller with one protector for the whole export (a TypeDecorator
    # would look the protector up again for each of a million rows)
    sa.type_coerce(CreditRecord.subject_id_number, sa.LargeBinary).label("subject_id_number"),
    CreditRecord.subject_code,
    CreditRecord.violation_type_id,
    _as_stored(CreditRecord.grade),
    _as_stored(CreditRecord.starts_on),
    _as_stored(CreditRecord.publish_until),
    _as_stored(CreditRecord.ban_until),
    _as_stored(CreditRecord.status),
    CreditRecord.subject_index,
)


def _catalogue() -> dict[int, TypeFields]:
    return {v.id: _type_fields(v) for v in db.session.scalars(sa.select(ViolationType))}


_ID_PURPOSE = CreditRecord.__table__.c.subject_id_number.type.purpose


def _row_values(row, types: dict[int, TypeFields], decrypt, tabular: bool) -> list[Any]:
    blob = row.subject_id_number
    return _values(
        row.reference,
        row.subject_kind,
        row.subject_name,
        None if blob is None else decrypt(bytes(blob), _ID_PURPOSE),
        row.subject_code,
        types[row.violation_type_id],
        row.grade,
        row.starts_on,
        row.publish_until,
        row.ban_until,
        row.status,
        None,
        tabular,
    )


def _on(params: dict[str, Any]) -> date:
    return date.fromisoformat(params["on"])


def _fix_today(user: User) -> dict[str, Any]:
    return {"on": today().isoformat()}


def _published_count(params: dict[str, Any]) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(CreditRecord).where(*in_force(_on(params)))
    )


def _published_rows(params: dict[str, Any], export: Export) -> Iterator[Sequence[Any]]:
    """Every record published on the export's day, by id, in keyset batches (rows are
    plain tuples, so memory stays flat)."""
    on, types, last = _on(params), _catalogue(), 0
    progress = Progress(export)
    decrypt = protector().decrypt
    tabular = export.format != "jsonl"
    while True:
        batch = (
            db.session.connection()
            .execute(
                sa.select(*_ROW_COLUMNS)
                .where(*in_force(on), CreditRecord.id > last)
                .order_by(CreditRecord.id)
                .limit(EXPORT_BATCH)
            )
            .all()
        )
        if not batch:
            progress.commit()
            return
        for row in batch:
            yield _row_values(row, types, decrypt, tabular)
        last = batch[-1].id
        progress.add(len(batch))


def _joint_count(params: dict[str, Any]) -> int:
    on = _on(params)
    listed = listed_subjects(on).subquery()
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CreditRecord)
        .where(*in_force(on), CreditRecord.subject_index.in_(sa.select(listed.c.subject_index)))
    )


def _joint_rows(params: dict[str, Any], export: Export) -> Iterator[Sequence[Any]]:
    """The records in force of the listed subjects, subject by subject, in batches: a walk
    of the subject index marks where the next batch ends, and one query joins the batch's
    records in force to its listed subjects (:func:`listed_subjects` over the same range)."""
    on, types, after = _on(params), _catalogue(), ""
    progress = Progress(export)
    decrypt = protector().decrypt
    tabular = export.format != "jsonl"
    while True:
        bound = db.session.scalar(
            sa.select(CreditRecord.subject_index)
            .where(CreditRecord.subject_index > after)
            .order_by(CreditRecord.subject_index)
            .offset(EXPORT_BATCH)
            .limit(1)
        )
        in_range = [CreditRecord.subject_index > after]
        if bound is not None:
            in_range.append(CreditRecord.subject_index <= bound)
        listed = listed_subjects(on).where(*in_range).subquery()
        # on the connection: plain rows, without the ORM's result machinery
        rows = (
            db.session.connection()
            .execute(
                sa.select(*_ROW_COLUMNS)
                .join(listed, listed.c.subject_index == CreditRecord.subject_index)
                .where(*in_range, *in_force(on))
                .order_by(CreditRecord.subject_index, CreditRecord.id)
            )
            .all()
        )
        for row in rows:
            yield _row_values(row, types, decrypt, tabular)
        progress.add(len(rows))
        if bound is None:
            progress.commit()
            return
        after = bound


EXPORT_KINDS: dict[str, ExportKind] = {
    "credit_joint_list": ExportKind(
        title=_l("Joint-punishment list"),
        roles=(Role.MANAGER,),
        header=lambda: SCHEMA,
        count=_joint_count,
        rows=_joint_rows,
        scope=_fix_today,
        formats=("csv", "xlsx", "jsonl"),
        json_keys=SCHEMA,
    ),
    "credit_published": ExportKind(
        title=_l("Published credit records"),
        roles=(Role.MANAGER,),
        header=lambda: SCHEMA,
        count=_published_count,
        rows=_published_rows,
        scope=_fix_today,
        formats=("csv", "xlsx", "jsonl"),
        json_keys=SCHEMA,
    ),
}


# --- lists partner agencies push in --------------------------------------------------------


@dataclass
class EntryError:
    index: int
    field: str
    message: str


class BatchRejected(ValidationFailed):
    """A pushed batch with errors: nothing of it is kept; ``errors`` name each entry's field."""

    def __init__(self, errors: list[EntryError]) -> None:
        super().__init__(
            _l(
                "%(count)d entries of the batch are not valid; nothing was saved.",
                count=len({e.index for e in errors}),
            )
        )
        self.errors = errors


@dataclass
class Entry:
    position: int
    external_id: str
    removed: bool
    list_name: str = ""
    kind: SubjectKind | None = None
    index: str = ""
    name: str = ""
    reason: str = ""
    starts_on: date | None = None
    ends_on: date | None = None


ID_MESSAGES = {
    "format": _l("An ID number has 18 characters: 17 digits and a digit or X."),
    "birth_date": _l("The birth date in this ID number is not possible."),
    "checksum": _l("This ID number is not valid: please check each digit."),
}


def _text(raw: dict, key: str, limit: int, errors: list, i: int, *, required: bool) -> str:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append(EntryError(i, key, _("This field is required.")))
        return ""
    if not isinstance(value, str):
        errors.append(EntryError(i, key, _("Give this field as text.")))
        return ""
    value = value.strip()
    if len(value) > limit:
        errors.append(EntryError(i, key, _("At most %(n)d characters.", n=limit)))
        return ""
    return value


def _date(raw: dict, key: str, errors: list, i: int, *, required: bool) -> date | None:
    value = raw.get(key)
    if value in (None, ""):
        if required:
            errors.append(EntryError(i, key, _("This field is required.")))
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        errors.append(EntryError(i, key, _("Give a date as YYYY-MM-DD.")))
        return None


def _check_entry(raw: Any, i: int, errors: list[EntryError]) -> Entry | None:
    """One pushed entry, normalised, or None with its errors added."""
    if not isinstance(raw, dict):
        errors.append(EntryError(i, "entry", _("Each entry is a JSON object.")))
        return None
    before = len(errors)
    external_id = _text(raw, "external_id", 64, errors, i, required=True)
    removed = raw.get("removed", False)
    if not isinstance(removed, bool):
        errors.append(EntryError(i, "removed", _("Give true or false.")))
        return None
    if removed:
        return None if len(errors) > before else Entry(i, external_id, True)
    entry = Entry(i, external_id, False)
    entry.list_name = _text(raw, "list_name", 120, errors, i, required=True)
    entry.name = _text(raw, "name", 120, errors, i, required=True)
    entry.reason = _text(raw, "reason", 500, errors, i, required=True)
    entry.starts_on = _date(raw, "starts_on", errors, i, required=True)
    entry.ends_on = _date(raw, "ends_on", errors, i, required=False)
    if entry.starts_on and entry.ends_on and entry.ends_on < entry.starts_on:
        errors.append(EntryError(i, "ends_on", _("The end comes before the start.")))
    kind = raw.get("subject_kind")
    if kind == SubjectKind.PERSON.value:
        entry.kind = SubjectKind.PERSON
        raw_id = _text(raw, "id_number", 30, errors, i, required=True)
        if raw_id:
            try:
                entry.index = subject_index(SubjectKind.PERSON, parse_id_number(raw_id))
            except IdNumberError as exc:
                errors.append(EntryError(i, "id_number", str(ID_MESSAGES[exc.code])))
    elif kind == SubjectKind.ORGANISATION.value:
        entry.kind = SubjectKind.ORGANISATION
        raw_code = _text(raw, "credit_code", 30, errors, i, required=True)
        if raw_code:
            code = normalize_credit_code(raw_code)
            if is_valid_credit_code(code):
                entry.index = subject_index(SubjectKind.ORGANISATION, code)
            else:
                errors.append(
                    EntryError(
                        i,
                        "credit_code",
                        _(
                            "This unified social credit code is not valid: "
                            "please check each character."
                        ),
                    )
                )
    else:
        errors.append(EntryError(i, "subject_kind", _("Give person or organisation.")))
    return None if len(errors) > before else entry


@dataclass
class PushResult:
    listed: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0


def _ban_source(client: ApiClient, list_name: str) -> str:
    return f"{client.name} · {list_name}"[:120]


def _end(listing: ExternalListing, ban: CreditBan | None) -> None:
    """A listing taken off: it stops screening from today (its history is kept)."""
    listing.removed_at = utcnow()
    if ban is not None:
        yesterday = today() - timedelta(days=1)
        ban.ends_on = yesterday if ban.ends_on is None else min(ban.ends_on, yesterday)


def push_listings(client: ApiClient, raw_entries: Any) -> PushResult:
    """Take in a partner's batch: every entry is checked first, and one error refuses the
    whole batch (:class:`BatchRejected` naming each entry and field). Valid batches upsert
    one listing per (client, external_id), each with the ban that screens applicants; an
    entry with ``removed: true`` ends its listing."""
    if not isinstance(raw_entries, list) or not 1 <= len(raw_entries) <= MAX_PUSH:
        raise ValidationFailed(
            _l("Send 1 to %(max)d entries in a batch.", max=MAX_PUSH), field="entries"
        )
    errors: list[EntryError] = []
    entries: list[Entry] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_entries):
        entry = _check_entry(raw, i, errors)
        if entry is None:
            continue
        if entry.external_id in seen:
            errors.append(EntryError(i, "external_id", _("This id comes twice in the batch.")))
            continue
        seen.add(entry.external_id)
        entries.append(entry)
    existing = {
        row.external_id: row
        for row in db.session.scalars(
            sa.select(ExternalListing)
            .where(
                ExternalListing.client_id == client.id,
                ExternalListing.external_id.in_([e.external_id for e in entries] or [""]),
            )
            .with_for_update()
        )
    }
    for e in entries:
        if e.removed and e.external_id not in existing:
            errors.append(
                EntryError(e.position, "external_id", _("No listing with this id came from you."))
            )
    if errors:
        raise BatchRejected(sorted(errors, key=lambda e: e.index))
    bans = {
        b.listing_id: b
        for b in db.session.scalars(
            sa.select(CreditBan).where(
                CreditBan.listing_id.in_([r.id for r in existing.values()] or [0])
            )
        )
    }
    result = PushResult()
    try:
        for e in entries:
            listing = existing.get(e.external_id)
            if e.removed:
                if listing.removed_at is None:
                    _end(listing, bans.get(listing.id))
                    result.removed += 1
                else:
                    result.unchanged += 1
                continue
            if listing is None:
                listing = ExternalListing(client_id=client.id, external_id=e.external_id)
                db.session.add(listing)
                result.listed += 1
            else:
                result.updated += 1
            listing.list_name = e.list_name
            listing.subject_kind = e.kind
            listing.subject_index = e.index
            listing.subject_name = e.name
            listing.reason = e.reason
            listing.starts_on = e.starts_on
            listing.ends_on = e.ends_on
            listing.received_at = utcnow()
            listing.removed_at = None
            db.session.flush()
            ban = bans.get(listing.id)
            if ban is None:
                ban = CreditBan(listing_id=listing.id)
                db.session.add(ban)
            ban.id_index = e.index
            ban.source = _ban_source(client, e.list_name)
            ban.reason = e.reason
            ban.starts_on = e.starts_on
            ban.ends_on = e.ends_on
        db.session.flush()
    except IntegrityError as exc:  # the same new id pushed twice at the same moment
        db.session.rollback()
        raise Conflict(_l("Another batch with these ids is being saved; send it again.")) from exc
    audit.record(
        "credit.listings_pushed",
        actor=client,
        entries=len(entries),
        listed=result.listed,
        updated=result.updated,
        removed=result.removed,
    )
    return result


def _ban_of(listing: ExternalListing) -> CreditBan | None:
    return db.session.scalars(
        sa.select(CreditBan).where(CreditBan.listing_id == listing.id)
    ).one_or_none()


def withdraw_listing(client: ApiClient, external_id: str) -> ExternalListing:
    """The partner takes one of its listings off (idempotent)."""
    listing = db.session.scalars(
        sa.select(ExternalListing)
        .where(ExternalListing.client_id == client.id, ExternalListing.external_id == external_id)
        .with_for_update()
    ).one_or_none()
    if listing is None:
        raise NotFound(_l("No listing with this id came from you."))
    if listing.removed_at is None:
        _end(listing, _ban_of(listing))
        audit.record("credit.listing_withdrawn", actor=client, obj=listing)
    return listing


REMOVAL_REASON_MIN = 5


def remove_listing(manager: User, listing: ExternalListing, reason: str) -> None:
    """A manager takes a partner's listing off (e.g. the agency said it was wrong); the
    reason is kept in the audit log."""
    if manager.role is not Role.MANAGER:
        raise Forbidden()
    reason = (reason or "").strip()
    if len(reason) < REMOVAL_REASON_MIN:
        raise ValidationFailed(
            _l("Give the reason (at least %(n)d characters).", n=REMOVAL_REASON_MIN),
            field="reason",
        )
    listing = db.session.scalars(
        sa.select(ExternalListing).where(ExternalListing.id == listing.id).with_for_update()
    ).one()
    if listing.removed_at is not None:
        raise Conflict(_l("This listing was already taken off."))
    _end(listing, _ban_of(listing))
    audit.record("credit.listing_removed", actor=manager, obj=listing, reason=reason[:500])


@dataclass
class ListingCount:
    client_id: int
    agency: str
    list_name: str
    active: int
    removed: int


def listing_counts() -> list[ListingCount]:
    """Listings received, by agency and list: how many screen applicants, how many ended."""
    on = today()
    active = sa.and_(
        ExternalListing.removed_at.is_(None),
        sa.or_(ExternalListing.ends_on.is_(None), ExternalListing.ends_on >= on),
    )
    rows = db.session.execute(
        sa.select(
            ApiClient.id,
            ApiClient.name,
            ExternalListing.list_name,
            sa.func.sum(sa.case((active, 1), else_=0)),
            sa.func.count(),
        )
        .join(ApiClient, ApiClient.id == ExternalListing.client_id)
        .group_by(ApiClient.id, ApiClient.name, ExternalListing.list_name)
        .order_by(ApiClient.name, ExternalListing.list_name)
    ).all()
    return [
        ListingCount(cid, name, list_name, int(act or 0), int(total) - int(act or 0))
        for cid, name, list_name, act, total in rows
    ]


def listings(
    client_id: int | None = None, *, before: int | None = None, limit: int = 50
) -> tuple[list[ExternalListing], int | None]:
    """Listings received, newest first, keyset-paginated."""
    stmt = (
        sa.select(ExternalListing)
        .options(selectinload(ExternalListing.client))
        .order_by(ExternalListing.id.desc())
        .limit(limit + 1)
    )
    if client_id:
        stmt = stmt.where(ExternalListing.client_id == client_id)
    if before:
        stmt = stmt.where(ExternalListing.id < before)
    rows = db.session.scalars(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)

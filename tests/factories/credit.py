"""Credit catalogue entries and records made directly in the database, for tests that need one
in a given state without going through flagging and confirmation.

``violation_type(code)`` returns the catalogue entry of that code and version (made once per
test, with the defaults of RULES.md); ``credit_record(...)`` a record of a person or an
organisation, ACTIVE by default, with its dates derived from its type as confirmation would.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from portal.accounts.services import id_index
from portal.core.clock import today
from portal.core.crypto import protector
from portal.core.identifiers import make_credit_code, make_id_number
from portal.credit.models import (
    CreditRecord,
    Grade,
    RecordStatus,
    SubjectKind,
    ViolationType,
)
from portal.extensions import db
from portal.waitlist.services import add_months

# code: (name_zh, name_en, grade, points, publish_months, ban_months, repair_after_months)
DEFAULTS: dict[str, tuple[str, str, Grade, int, int, int, int]] = {
    "V-BREACH": (
        "违反合同约定/拒不配合检查",
        "Breach of contract or refused inspection",
        Grade.GENERAL,
        5,
        6,
        0,
        3,
    ),
    "V-ARREARS": ("拖欠租金", "Rent arrears", Grade.GENERAL, 5, 6, 0, 3),
    "V-LATE-REPORT": (
        "未按期申报变更",
        "Change reported over 30 days late",
        Grade.GENERAL,
        10,
        6,
        0,
        3,
    ),
    "V-NO-CHECKOUT": ("未办理退房手续", "Left without check-out", Grade.GENERAL, 20, 6, 0, 3),
    "V-FALSE-PLEDGE": ("虚假承诺/骗取", "False pledge or fraud", Grade.SERIOUS, 30, 36, 60, 12),
    "V-SUBLET": ("转租转借", "Subletting or lending the home", Grade.SERIOUS, 30, 36, 60, 12),
    "V-ILLEGAL-USE": (
        "擅自改变用途/违法使用",
        "Change of use or illegal use",
        Grade.SERIOUS,
        30,
        36,
        60,
        12,
    ),
    "V-REFUSE-VACATE": ("拒不腾退", "Refusing to vacate", Grade.SERIOUS, 30, 36, 60, 12),
    "V-VACANT": ("无正当理由闲置", "Left vacant without good reason", Grade.MAJOR, 15, 12, 0, 6),
    "V-REPEAT": (
        "两年内两次一般失信",
        "Two general violations within two years",
        Grade.SERIOUS,
        30,
        36,
        60,
        12,
    ),
}

MEASURES = {
    Grade.GENERAL: ("提醒谈话，责令改正", "Reminder and correction notice"),
    Grade.MAJOR: ("警告，列入重点关注名单，暂停轮候", "Warning, watch list, queue suspended"),
    Grade.SERIOUS: (
        "解除合同收回住房，按市场租金补缴，罚款，五年内不得申请，联合惩戒",
        "Lease cancelled and home taken back, market back-rent, fine, 5-year ban, joint punishment",
    ),
}

_seq = itertools.count(1)


def violation_type(code: str = "V-SUBLET", *, version: int = 1, **overrides) -> ViolationType:
    """The catalogue entry ``code`` at ``version``: the existing row, or a new one with the
    defaults of RULES.md (``overrides`` win, e.g. ``points=40``)."""
    found = db.session.query(ViolationType).filter_by(code=code, version=version).one_or_none()
    if found is not None and not overrides:
        return found
    name_zh, name_en, grade, points, publish, ban, repair = DEFAULTS.get(
        code, (f"测试违规{code}", f"Test violation {code}", Grade.GENERAL, 5, 6, 0, 3)
    )
    grade = overrides.pop("grade", grade)
    measures_zh, measures_en = MEASURES[grade]
    values = {
        "code": code,
        "version": version,
        "effective_from": date(2020, 1, 1),
        "name_zh": name_zh,
        "name_en": name_en,
        "grade": grade,
        "points": points,
        "publish_months": publish,
        "ban_months": ban,
        "repair_after_months": repair,
        "suspends_queue": grade is not Grade.GENERAL,
        "opens_exit": grade is Grade.SERIOUS,
        "measures_zh": measures_zh,
        "measures_en": measures_en,
        "legal_basis": "《公共租赁住房管理办法》第三十五条",
        **overrides,
    }
    if found is not None:
        for key, value in values.items():
            setattr(found, key, value)
        db.session.flush()
        return found
    row = ViolationType(**values)
    db.session.add(row)
    db.session.flush()
    return row


def person_id_number(n: int | None = None) -> str:
    """A valid ID number, different for each call unless ``n`` is given."""
    n = next(_seq) if n is None else n
    birth = date(1960 + n % 40, 1 + n % 12, 1 + n % 28)
    return make_id_number("450305", birth, n % 1000)


def organisation_code(n: int | None = None) -> str:
    """A valid unified social credit code, different for each call unless ``n`` is given."""
    n = next(_seq) if n is None else n
    return make_credit_code(f"9145030{n:010d}")


def subject_index(kind: SubjectKind, identifier: str) -> str:
    """The blind index a record of this subject carries (ID number or credit code)."""
    if kind is SubjectKind.PERSON:
        return id_index(identifier)
    return protector().blind_index(identifier, "credit_code")


def credit_record(
    code: str = "V-SUBLET",
    *,
    subject_kind: SubjectKind = SubjectKind.PERSON,
    id_number: str | None = None,
    credit_code: str | None = None,
    name: str | None = None,
    status: RecordStatus = RecordStatus.ACTIVE,
    starts_on: date | None = None,
    facts: str = "经现场核查，承租人将住房转租他人。",
    occurred_on: date | None = None,
    source: str = "manual",
    flagged_by=None,
    confirmed_by=None,
    vtype: ViolationType | None = None,
    **overrides,
) -> CreditRecord:
    """A record of ``code`` against a person (default; a fresh ID number unless given) or an
    organisation. Records that were confirmed (any status but PENDING and REJECTED) get
    ``starts_on`` (default today) and the publication, ban, repair and objection dates their
    type gives; ``overrides`` set any column directly (e.g. ``publish_until=...``)."""
    vtype = vtype or violation_type(code)
    n = next(_seq)
    if subject_kind is SubjectKind.PERSON:
        id_number = id_number or person_id_number(n)
        identifier, name = id_number, name or f"测试人{n}"
    else:
        credit_code = credit_code or organisation_code(n)
        identifier, name = credit_code, name or f"测试物业服务有限公司{n}"
    confirmed = status not in (RecordStatus.PENDING, RecordStatus.REJECTED)
    start = (starts_on or today()) if confirmed else None
    values = {
        "reference": f"CRT{n:09d}",
        "subject_kind": subject_kind,
        "subject_index": subject_index(subject_kind, identifier),
        "subject_id_number": id_number if subject_kind is SubjectKind.PERSON else None,
        "subject_code": credit_code if subject_kind is SubjectKind.ORGANISATION else None,
        "subject_name": name,
        "violation_type_id": vtype.id,
        "grade": vtype.grade,
        "points": vtype.points,
        "facts": facts,
        "occurred_on": occurred_on or ((start or today()) - timedelta(days=30)),
        "source": source,
        "status": status,
        "flagged_by_id": flagged_by.id if flagged_by is not None else None,
        "confirmed_by_id": confirmed_by.id if confirmed_by is not None and confirmed else None,
        "starts_on": start,
        "publish_until": add_months(start, vtype.publish_months) if start else None,
        "ban_until": add_months(start, vtype.ban_months) if start and vtype.ban_months else None,
        "repair_from": add_months(start, vtype.repair_after_months) if start else None,
        "object_by": start + timedelta(days=21) if start else None,
        **overrides,
    }
    row = CreditRecord(**values)
    db.session.add(row)
    db.session.flush()
    return row

"""The joint-punishment lists: the allow-listed schema, the feed of changes, what is published
and who is on the joint list (RULES.md thresholds)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.identifiers import mask_id_number
from portal.credit import lists
from portal.credit.models import (
    ChangeAction,
    CreditChange,
    Grade,
    RecordStatus,
    SubjectKind,
)
from tests.factories import StaffFactory
from tests.factories.credit import credit_record, organisation_code, person_id_number


def pulled(cursor=0, limit=100):
    result = lists.pull_changes(None, cursor, limit)
    body = json.loads(result.body)
    assert result.count == len(body["changes"])
    assert result.has_more is body["has_more"]
    return body


# --- the schema ----------------------------------------------------------------------------


def test_a_persons_payload_has_exactly_the_schema_masked(db):
    flagger, confirmer = StaffFactory(), StaffFactory()
    number = person_id_number()
    record = credit_record(
        "V-SUBLET",
        id_number=number,
        name="欧阳修",
        facts="住在漓江路 8 号的邻居王某证实",
        flagged_by=flagger,
        confirmed_by=confirmer,
    )
    change = lists.record_changed(record, ChangeAction.LISTED)
    payload = change.payload
    assert tuple(payload) == lists.SCHEMA
    assert payload["subject_name"] == "欧**"
    assert payload["subject_id"] == mask_id_number(number)
    assert payload["violation_code"] == "V-SUBLET"
    assert payload["violation_name_zh"] == "转租转借"
    assert payload["grade"] == "serious"
    assert payload["starts_on"] == today().isoformat()
    assert payload["ban_until"] == record.ban_until.isoformat()
    assert payload["removed"] is False
    assert payload["removed_reason"] is None
    raw = change.payload_json
    for secret in (number, "漓江路", flagger.real_name, confirmer.real_name, "欧阳修"):
        assert secret not in raw


def test_an_organisation_is_named_in_full_with_its_credit_code(db):
    code = organisation_code()
    record = credit_record(
        "V-ILLEGAL-USE",
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=code,
        name="桂林某某物业服务有限公司",
    )
    payload = lists.payload_of(record)
    assert payload["subject_kind"] == "organisation"
    assert payload["subject_name"] == "桂林某某物业服务有限公司"
    assert payload["subject_id"] == code


# --- the feed ------------------------------------------------------------------------------


def test_records_never_confirmed_are_never_sent(db):
    for status in (RecordStatus.PENDING, RecordStatus.REJECTED):
        assert lists.record_changed(credit_record(status=status), ChangeAction.LISTED) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CreditChange)) == 0


def test_a_removal_is_sent_only_for_a_record_sent_before_with_its_reason(db):
    quiet = credit_record(status=RecordStatus.ANNULLED)
    assert lists.record_changed(quiet, ChangeAction.REMOVED) is None

    record = credit_record()
    lists.record_changed(record, ChangeAction.LISTED)
    record.status = RecordStatus.REPAIRED
    change = lists.record_changed(record, ChangeAction.UPDATED)
    assert change.action is ChangeAction.REMOVED  # an ended record leaves the list
    assert change.payload["removed"] is True
    assert change.payload["removed_reason"] == "repaired"
    assert tuple(change.payload) == lists.SCHEMA


def test_an_update_of_a_record_not_sent_yet_is_a_listing(db):
    change = lists.record_changed(credit_record(), ChangeAction.UPDATED)
    assert change.action is ChangeAction.LISTED


def test_pull_returns_changes_after_the_cursor_with_removals_and_has_more(db):
    records = [credit_record() for _ in range(3)]
    changes = [lists.record_changed(r, ChangeAction.LISTED) for r in records]
    records[0].status = RecordStatus.ANNULLED
    removal = lists.record_changed(records[0], ChangeAction.REMOVED)

    body = pulled(cursor=changes[0].id, limit=2)
    assert [c["id"] for c in body["changes"]] == [changes[1].id, changes[2].id]
    assert body["has_more"] is True
    assert body["next_cursor"] == changes[2].id

    body = pulled(cursor=body["next_cursor"], limit=2)
    assert [c["id"] for c in body["changes"]] == [removal.id]
    only = body["changes"][0]
    assert only["action"] == "removed"
    assert only["record"]["reference"] == records[0].reference
    assert only["record"]["removed_reason"] == "annulled"
    assert body["has_more"] is False

    body = pulled(cursor=removal.id)
    assert body == {"changes": [], "next_cursor": removal.id, "has_more": False}


def test_pull_is_audited_with_cursor_and_count(db):
    lists.record_changed(credit_record(), ChangeAction.LISTED)
    lists.pull_changes(None, 0, 10)
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "credit.changes_pulled")
    ).one()
    assert event.details_dict["cursor"] == 0
    assert event.details_dict["count"] == 1


@pytest.mark.parametrize(("cursor", "limit"), [(-1, 10), (0, 0), (0, lists.MAX_PULL + 1)])
def test_pull_refuses_a_bad_cursor_or_limit(db, cursor, limit):
    from portal.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        lists.pull_changes(None, cursor, limit)


# --- what is published ---------------------------------------------------------------------


def test_published_records_are_those_in_force_today(db):
    shown = credit_record()
    objected = credit_record(status=RecordStatus.OBJECTED)
    hidden = [
        credit_record(status=RecordStatus.PENDING),
        credit_record(status=RecordStatus.REJECTED),
        credit_record(status=RecordStatus.ANNULLED),
        credit_record(status=RecordStatus.REPAIRED),
        credit_record(status=RecordStatus.EXPIRED),
        credit_record(publish_until=today() - timedelta(days=1)),  # its period is over
        credit_record(starts_on=today() + timedelta(days=1)),  # not yet
    ]
    rows, more = lists.published_records()
    ids = {r.id for r in rows}
    assert {shown.id, objected.id} <= ids
    assert not ids & {r.id for r in hidden}
    assert more is None


def test_published_records_page_by_keyset_newest_first(db):
    made = [credit_record() for _ in range(5)]
    first, cursor = lists.published_records(limit=2)
    second, cursor2 = lists.published_records(limit=2, before=cursor)
    third, cursor3 = lists.published_records(limit=2, before=cursor2)
    seen = [r.id for r in first + second + third]
    assert seen == sorted((r.id for r in made), reverse=True)
    assert cursor3 is None


def test_organisations_are_found_by_name_or_credit_code_persons_by_reference_only(db):
    code = organisation_code()
    org = credit_record(
        "V-ILLEGAL-USE",
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=code,
        name="漓江房屋中介有限公司",
    )
    person = credit_record(name="漓江")
    assert [r.id for r in lists.published_records(q="房屋中介")[0]] == [org.id]
    assert [r.id for r in lists.published_records(q=code.lower())[0]] == [org.id]
    assert [r.id for r in lists.published_records(q="漓江")[0]] == [org.id]
    assert [r.id for r in lists.published_records(q=person.reference)[0]] == [person.id]


# --- the joint list ------------------------------------------------------------------------


def test_joint_list_holds_serious_records_and_scores_below_70(db):
    serious = credit_record("V-SUBLET")  # 30 points, serious
    low = person_id_number()
    for code in ("V-NO-CHECKOUT", "V-LATE-REPORT", "V-BREACH"):  # 20 + 10 + 5 = 35 -> 65
        credit_record(code, id_number=low)
    edge = person_id_number()
    for code in ("V-NO-CHECKOUT", "V-LATE-REPORT"):  # 30 -> score 70, not below
        credit_record(code, id_number=edge)
    major = credit_record("V-VACANT")  # 15 points, major: score 85
    expired = credit_record("V-SUBLET", status=RecordStatus.EXPIRED)

    subjects, more = lists.joint_list()
    by_index = {s.subject_index: s for s in subjects}
    assert serious.subject_index in by_index
    assert by_index[serious.subject_index].score == 70
    assert by_index[serious.subject_index].grade == "C"
    low_subject = next(s for s in subjects if len(s.records) == 3)
    assert low_subject.score == 65
    assert low_subject.grade == "D"
    assert [r.violation_type.code for r in low_subject.records] == [
        "V-NO-CHECKOUT",
        "V-LATE-REPORT",
        "V-BREACH",
    ]
    assert len(subjects) == 2
    assert major.subject_index not in by_index
    assert expired.subject_index not in by_index
    assert more is None

    summary = lists.joint_summary()
    assert summary.subjects == 2
    assert summary.persons == 2
    assert summary.by_credit_grade == {"A": 0, "B": 0, "C": 1, "D": 1}
    assert summary.records_by_grade[Grade.SERIOUS] == 1
    assert summary.records_by_grade[Grade.GENERAL] == 3


def test_joint_list_pages_by_subject(db):
    for _ in range(5):
        credit_record()
    seen, after = [], ""
    while True:
        page, after = lists.joint_list(after=after, limit=2)
        seen += [s.subject_index for s in page]
        if after is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen)

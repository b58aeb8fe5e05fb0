"""Credit records through their services: the versioned catalogue, flagging (identifiers,
dates, facts, who may flag), confirmation by a second manager (four eyes), the score, and
the audit trail."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.accounts.services import id_index
from portal.core.audit import AuditEvent
from portal.core.calendar import add_working_days
from portal.core.clock import CITY_TZ, today
from portal.core.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    SameActor,
    ValidationFailed,
)
from portal.core.identifiers import make_credit_code
from portal.credit import rules, services
from portal.credit.models import (
    CreditBan,
    CreditRecord,
    Grade,
    RecordStatus,
    SubjectKind,
    ViolationType,
)
from portal.extensions import db
from portal.waitlist.services import add_months
from tests.factories import DistrictFactory
from tests.factories.credit import credit_record, organisation_code, person_id_number
from tests.factories.fixtures import make_staff
from tests.factories.waitlist import waiting_entry

FACTS = "经现场核查，承租人将住房转租给他人居住，有租赁合同为证。"


def events(name: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
        )
    )


def flag(actor, **kw) -> CreditRecord:
    values = {
        "subject_kind": SubjectKind.PERSON,
        "id_number": person_id_number(),
        "name": "李四",
        "code": "V-SUBLET",
        "facts": FACTS,
        "occurred_on": today() - timedelta(days=10),
    }
    values.update(kw)
    return services.flag_violation(actor, **values)


@pytest.fixture
def manager(db):
    return make_staff(Role.MANAGER)


@pytest.fixture
def second_manager(db):
    return make_staff(Role.MANAGER)


# --- the catalogue -----------------------------------------------------------------------------


def test_the_catalogue_is_stored_as_version_1_on_first_use(db):
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ViolationType)) == 0
    current = services.catalogue()
    assert [v.code for v in current] == list(rules.DEFAULTS)
    assert {v.version for v in current} == {1}
    sublet = services.violation_type("V-SUBLET")
    assert sublet.id is not None
    assert (sublet.grade, sublet.points, sublet.ban_months) == (Grade.SERIOUS, 30, 60)
    services.catalogue()  # a second use stores nothing more
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ViolationType)) == len(
        rules.DEFAULTS
    )


def test_a_managers_version_takes_effect_on_its_date_and_records_keep_theirs(
    db, manager, second_manager
):
    record = flag(manager)
    first = record.violation_type
    values = {**services.values_of(first), "points": 40, "legal_basis": "新规第1条"}
    tomorrow = today() + timedelta(days=1)
    v2 = services.add_type_version(manager, "V-SUBLET", values, tomorrow)
    assert v2.version == 2
    assert services.violation_type("V-SUBLET").id == first.id  # not yet in force
    assert services.violation_type("V-SUBLET", tomorrow).id == v2.id
    assert [v.version for v in services.versions_of("V-SUBLET")] == [2, 1]
    services.confirm(record, second_manager)
    assert record.violation_type_id == first.id
    assert record.points == 30
    assert events("credit.catalogue_version")[-1].details_dict["version"] == 2


def test_a_version_cannot_rewrite_the_past_nor_leave_the_bounds(db, manager):
    current = services.violation_type("V-BREACH")
    values = services.values_of(current)
    with pytest.raises(ValidationFailed) as past:
        services.add_type_version(manager, "V-BREACH", values, today() - timedelta(days=1))
    assert past.value.field == "effective_from"
    with pytest.raises(ValidationFailed) as publish:
        services.add_type_version(manager, "V-BREACH", {**values, "publish_months": 24}, today())
    assert publish.value.field == "publish_months"
    with pytest.raises(ValidationFailed) as name:
        services.add_type_version(manager, "V-BREACH", {**values, "name_en": " "}, today())
    assert name.value.field == "name_en"
    with pytest.raises(Forbidden):
        services.add_type_version(make_staff(Role.OFFICER), "V-BREACH", values, today())


def test_a_new_code_and_retiring_a_code(db, manager):
    values = {**rules.DEFAULTS["V-BREACH"], "name_zh": "噪音扰民", "name_en": "Noise"}
    row = services.add_type_version(manager, "v-noise", values, today())
    assert (row.code, row.version) == ("V-NOISE", 1)
    assert "V-NOISE" in [v.code for v in services.catalogue()]
    with pytest.raises(ValidationFailed) as bad:
        services.add_type_version(manager, "NOISE", values, today())
    assert bad.value.field == "code"

    retired = services.retire_type(manager, "V-NOISE", today())
    assert retired.retired
    assert retired.version == 2
    assert "V-NOISE" not in [v.code for v in services.catalogue()]
    with pytest.raises(ValidationFailed) as gone:
        flag(manager, code="V-NOISE")
    assert gone.value.field == "code"
    assert events("credit.catalogue_retire")


# --- flagging ----------------------------------------------------------------------------------


def test_a_manager_flags_a_person_pending_with_a_reference_and_an_audit_event(db, manager):
    number = person_id_number()
    record = flag(manager, id_number=number)
    assert record.status is RecordStatus.PENDING
    assert record.reference == f"CR{today().year}{record.id:06d}"
    assert record.subject_index == id_index(number)
    assert record.subject_id_number == number
    assert (record.grade, record.points) == (Grade.SERIOUS, 30)
    assert record.starts_on is None
    assert record.publish_until is None
    event = events("credit.flag")[-1]
    assert event.actor_id == manager.id
    assert event.details_dict["code"] == "V-SUBLET"
    assert number not in event.details  # masked, never whole


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_number": "450305198001010010"}, "id_number"),  # wrong check digit
        ({"id_number": "45030519800101001"}, "id_number"),  # 17 characters
        ({"id_number": ""}, "id_number"),
        (
            {"subject_kind": SubjectKind.ORGANISATION, "credit_code": "91450300MA5KXXXXX1"},
            "credit_code",
        ),
        ({"subject_kind": "club"}, "subject_kind"),
        ({"occurred_on": today() + timedelta(days=1)}, "occurred_on"),
        ({"occurred_on": None}, "occurred_on"),
        ({"facts": "  "}, "facts"),
        ({"facts": "太短了"}, "facts"),
        ({"facts": "x" * (services.FACTS_MAX + 1)}, "facts"),
        ({"name": ""}, "name"),
        ({"code": "V-UNKNOWN"}, "code"),
        ({"code": "V-ARREARS"}, "months"),  # counted in months: how many?
        ({"code": "V-VACANT", "months": 3}, "months"),  # vacancy counts from 6 months
    ],
)
def test_flagging_refuses_bad_input_naming_the_field(db, manager, changes, field):
    with pytest.raises(ValidationFailed) as refused:
        flag(manager, **changes)
    assert refused.value.field == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CreditRecord)) == 0


def test_a_bad_credit_code_checksum_fails_and_a_good_one_passes(db, manager):
    good = organisation_code()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValidationFailed):
        flag(manager, subject_kind=SubjectKind.ORGANISATION, credit_code=bad, name="某物业公司")
    record = flag(
        manager,
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=good.lower(),
        name="某物业公司",
        code="V-BREACH",
    )
    assert record.subject_code == good
    assert record.subject_id_number is None
    assert record.subject_index == services.subject_index(SubjectKind.ORGANISATION, good)


def test_arrears_are_graded_by_months(db, manager):
    six = flag(manager, code="V-ARREARS", months=6)
    assert (six.grade, six.points) == (Grade.GENERAL, 30)
    twelve = flag(manager, code="V-ARREARS", months=12, occurred_on=today())
    assert (twelve.grade, twelve.points) == (Grade.SERIOUS, 60)


def test_an_officer_flags_persons_of_their_districts_and_organisations_anywhere(db):
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    entry = waiting_entry(district)
    resident = entry.application.applicant
    record = flag(officer, id_number=resident.id_number, name=resident.real_name)
    assert record.application_id == entry.application_id

    stranger = waiting_entry(DistrictFactory()).application.applicant
    with pytest.raises(ValidationFailed) as elsewhere:
        flag(officer, id_number=stranger.id_number)
    assert elsewhere.value.field == "id_number"
    with pytest.raises(ValidationFailed):
        flag(officer)  # a person with no case at all

    org = flag(
        officer,
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=make_credit_code("91450300MA5K00001"),
        name="桂林某物业服务有限公司",
        code="V-BREACH",
    )
    assert org.status is RecordStatus.PENDING


def test_reviewers_and_residents_cannot_flag(db):
    with pytest.raises(Forbidden):
        flag(make_staff(Role.REVIEWER))
    with pytest.raises(Forbidden):
        flag(make_staff(Role.AUDITOR))


def test_the_same_violation_on_the_same_day_is_not_recorded_twice(db, manager):
    number = person_id_number()
    first = flag(manager, id_number=number)
    with pytest.raises(Conflict) as twice:
        flag(manager, id_number=number)
    assert first.reference in str(twice.value)


# --- four eyes ---------------------------------------------------------------------------------


def test_the_flagger_cannot_confirm_nor_reject_and_an_officer_cannot_at_all(db, manager):
    record = flag(manager)
    with pytest.raises(SameActor):
        services.confirm(record, manager)
    with pytest.raises(SameActor):
        services.reject(record, manager, "不成立")
    with pytest.raises(Forbidden):
        services.confirm(record, make_staff(Role.OFFICER))
    assert record.status is RecordStatus.PENDING


def test_confirming_sets_the_dates_the_ban_and_tells_nobody_without_an_account(
    db, manager, second_manager
):
    record = flag(manager)
    services.confirm(record, second_manager, "证据充分")
    start = today()
    assert record.status is RecordStatus.ACTIVE
    assert record.confirmed_by_id == second_manager.id
    assert record.starts_on == start
    assert record.publish_until == add_months(start, 36)
    assert record.ban_until == add_months(start, 60)
    assert record.repair_from == add_months(start, 12)
    assert record.object_by == add_working_days(start, 15)
    ban = db.session.scalars(sa.select(CreditBan).where(CreditBan.record_id == record.id)).one()
    assert ban.id_index == record.subject_index
    assert (ban.starts_on, ban.ends_on) == (start, record.ban_until)
    assert events("credit.confirm")[-1].actor_id == second_manager.id
    with pytest.raises(InvalidTransition):
        services.confirm(record, make_staff(Role.MANAGER))


def test_a_general_record_bans_nobody(db, manager, second_manager):
    record = flag(manager, code="V-BREACH")
    services.confirm(record, second_manager)
    assert record.ban_until is None
    assert (
        db.session.scalar(sa.select(CreditBan.id).where(CreditBan.record_id == record.id)) is None
    )


def test_a_portal_flagged_record_may_be_confirmed_by_any_manager(db, manager):
    record = services.flag_violation(
        None,
        subject_kind=SubjectKind.PERSON,
        id_number=person_id_number(),
        name="王五",
        code="V-FALSE-PLEDGE",
        facts=FACTS,
        occurred_on=today(),
        source="spot_check",
    )
    assert record.flagged_by_id is None
    services.confirm(record, manager)
    assert record.status is RecordStatus.ACTIVE
    assert events("credit.flag")[-1].actor_label == "system"


def test_rejecting_needs_a_reason_and_keeps_the_record_out_of_force(db, manager, second_manager):
    record = flag(manager)
    with pytest.raises(ValidationFailed):
        services.reject(record, second_manager, "")
    services.reject(record, second_manager, "证据不足，无法认定")
    assert record.status is RecordStatus.REJECTED
    assert record.decision_note == "证据不足，无法认定"
    assert services.score(record.subject_index) == (100, "A")
    assert events("credit.reject")


# --- score -------------------------------------------------------------------------------------


def test_the_score_counts_records_in_force_within_their_publication(db):
    number = person_id_number()
    index = id_index(number)
    credit_record("V-BREACH", id_number=number)  # 5
    credit_record("V-LATE-REPORT", id_number=number, status=RecordStatus.OBJECTED)  # 10
    credit_record("V-NO-CHECKOUT", id_number=number, status=RecordStatus.ANNULLED)  # not counted
    credit_record("V-NO-CHECKOUT", id_number=number, status=RecordStatus.PENDING)  # not counted
    credit_record(  # published no longer
        "V-NO-CHECKOUT",
        id_number=number,
        starts_on=today() - timedelta(days=400),
    )
    assert services.score(index) == (85, "B")
    assert len(services.in_force(index)) == 2
    assert services.score(index, today() + timedelta(days=3650)) == (100, "A")


def test_a_second_general_violation_within_two_years_flags_a_serious_one(
    db, manager, second_manager
):
    number = person_id_number()
    credit_record("V-BREACH", id_number=number, starts_on=today() - timedelta(days=300))
    record = flag(manager, id_number=number, code="V-LATE-REPORT")
    services.confirm(record, second_manager)
    repeat = db.session.scalars(
        sa.select(CreditRecord)
        .join(ViolationType)
        .where(ViolationType.code == "V-REPEAT", CreditRecord.subject_index == id_index(number))
    ).one()
    assert repeat.status is RecordStatus.PENDING
    assert repeat.flagged_by_id is None
    assert repeat.source == "repeat"
    assert record.reference in repeat.facts


def test_a_general_violation_older_than_two_years_does_not_count(db, manager, second_manager):
    number = person_id_number()
    credit_record(
        "V-BREACH",
        id_number=number,
        starts_on=today() - timedelta(days=800),
        status=RecordStatus.EXPIRED,
    )
    services.confirm(flag(manager, id_number=number, code="V-BREACH"), second_manager)
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(CreditRecord)
            .join(ViolationType)
            .where(ViolationType.code == "V-REPEAT")
        )
        == 0
    )


def test_dates_of_a_record_confirmed_on_a_month_end(manager, second_manager):
    with time_machine.travel(datetime(2027, 8, 31, 10, tzinfo=CITY_TZ), tick=False):
        record = flag(manager, code="V-BREACH", occurred_on=date(2027, 8, 1))
        services.confirm(record, second_manager)
    assert record.starts_on == date(2027, 8, 31)
    assert record.publish_until == date(2028, 2, 29)
    assert record.repair_from == date(2027, 11, 30)

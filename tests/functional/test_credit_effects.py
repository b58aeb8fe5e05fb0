"""What a credit record does across the portal: bans refuse applications with the record
named, major and serious records suspend the waiting household and lifting them restores it,
a serious record asks for a tenant's exit case, the subject objects and asks for repair,
expiry ends records on their dates, and the portal flags records itself (spot checks,
arrears, refusal to vacate)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import force_locale, format_date

from portal.accounts.roles import Role
from portal.applications import services as applications
from portal.applications.models import SpotCheck
from portal.core.audit import AuditEvent
from portal.core.calendar import add_working_days
from portal.core.clock import CITY_TZ, today
from portal.core.errors import Conflict, Forbidden, InvalidTransition, NotEligible, ValidationFailed
from portal.credit import services
from portal.credit.models import (
    AppealStatus,
    ChangeAction,
    CreditChange,
    CreditRecord,
    Grade,
    RecordStatus,
    SubjectKind,
)
from portal.extensions import db
from portal.tenancy.services import create_lease
from portal.waitlist import services as waitlist
from portal.waitlist.explain import suspension_sentences
from portal.waitlist.models import EntryStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, submit
from tests.factories.fixtures import make_staff, messages
from tests.factories.housing import UnitFactory
from tests.factories.waitlist import waiting_entry

FACTS = "经现场核查，承租人将住房转租给他人居住，有租赁合同为证。"
REASON = "转租合同是伪造的，我一直住在这里，有水电缴费记录可以证明。"


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=CITY_TZ)


def audited(event: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == event)))


@pytest.fixture
def flagger(db):
    return make_staff(Role.MANAGER)


@pytest.fixture
def confirmer(db):
    return make_staff(Role.MANAGER)


def recorded(flagger, confirmer, *, id_number, name="张三", code="V-SUBLET", **kw) -> CreditRecord:
    """A record flagged by one manager and confirmed by another, in force from today."""
    record = services.flag_violation(
        flagger,
        subject_kind=SubjectKind.PERSON,
        id_number=id_number,
        name=name,
        code=code,
        facts=FACTS,
        occurred_on=today() - timedelta(days=5),
        **kw,
    )
    return services.confirm(record, confirmer)


# --- bans ----------------------------------------------------------------------------------


def test_a_confirmed_serious_record_refuses_the_application_naming_it(district, flagger, confirmer):
    resident = ResidentFactory()
    record = recorded(flagger, confirmer, id_number=resident.id_number, name=resident.real_name)
    notice = messages(resident, "credit_recorded")
    assert notice[0]["reference"] == record.reference
    assert notice[0]["object_by"] == record.object_by.isoformat()

    with force_locale("en"), pytest.raises(NotEligible) as refused:
        draft_for(resident, district)
    with force_locale("en"):
        text = str(refused.value)
        assert record.reference in text
        assert "Subletting" in text
        assert format_date(record.ban_until) in text


def test_annulment_ends_the_ban_and_the_application_goes_through(district, flagger, confirmer):
    resident = ResidentFactory()
    record = recorded(flagger, confirmer, id_number=resident.id_number)
    appeal = services.object_to_record(resident, record, REASON)
    assert record.status is RecordStatus.OBJECTED
    assert applications.active_bans([resident.id_number_index])  # still in force meanwhile
    services.decide_appeal(appeal, confirmer, granted=True, reason="经复核，转租事实不成立。")
    assert record.status is RecordStatus.ANNULLED
    assert record.ended_on == today()
    assert applications.active_bans([resident.id_number_index]) == []
    assert services.score(resident.id_number_index) == (100, "A")
    app = submit(draft_for(resident, district), resident)
    assert app.reference


# --- the subject's side ----------------------------------------------------------------------


def test_objection_within_the_period_once_and_refused_back_to_active(flagger, confirmer):
    resident = ResidentFactory()
    record = recorded(flagger, confirmer, id_number=resident.id_number)
    other = ResidentFactory()
    with pytest.raises(Forbidden):
        services.object_to_record(other, record, REASON)
    with pytest.raises(ValidationFailed):
        services.object_to_record(resident, record, "不对")
    appeal = services.object_to_record(resident, record, REASON)
    assert appeal.respond_by == add_working_days(today(), 10)
    assert audited("credit.objection")
    with pytest.raises(Conflict):
        services.object_to_record(resident, record, REASON)

    with pytest.raises(ValidationFailed):
        services.decide_appeal(appeal, confirmer, granted=False, reason="")
    services.decide_appeal(appeal, confirmer, granted=False, reason="现场照片和租客证言一致。")
    assert record.status is RecordStatus.ACTIVE
    assert appeal.status is AppealStatus.REFUSED
    assert messages(resident, "credit_objection_refused")[0]["reason"] == "现场照片和租客证言一致。"
    decided = audited("credit.decide")[-1].details_dict
    assert (decided["kind"], decided["outcome"]) == ("objection", "refused")
    with pytest.raises(Conflict):  # one objection per record
        services.object_to_record(resident, record, REASON)


def test_objection_after_the_period_is_refused(flagger, confirmer):
    resident = ResidentFactory()
    record = recorded(flagger, confirmer, id_number=resident.id_number)
    with time_machine.travel(noon(record.object_by + timedelta(days=1)), tick=False):
        assert not services.can_object(record)
        with pytest.raises(InvalidTransition):
            services.object_to_record(resident, record, REASON)
    with time_machine.travel(noon(record.object_by), tick=False):
        assert services.can_object(record)


def test_repair_only_from_repair_from_and_granted_ends_publication_and_ban(flagger, confirmer):
    resident = ResidentFactory()
    record = recorded(flagger, confirmer, id_number=resident.id_number)
    with pytest.raises(InvalidTransition):
        services.ask_repair(resident, record, REASON)
    before = noon(record.repair_from - timedelta(days=1))
    with time_machine.travel(before, tick=False), pytest.raises(InvalidTransition):
        services.ask_repair(resident, record, REASON)
    on = record.repair_from
    with time_machine.travel(noon(on), tick=False):
        first = services.ask_repair(resident, record, "已经搬离并整改，附上整改证明和物业证明。")
        with pytest.raises(Conflict):
            services.ask_repair(resident, record, REASON)
        services.decide_appeal(first, confirmer, granted=False, reason="整改材料不完整。")
        assert record.status is RecordStatus.ACTIVE
        second = services.ask_repair(resident, record, "补充了完整的整改材料和承诺书。")
        services.decide_appeal(second, confirmer, granted=True, reason="材料齐全，同意修复。")
        assert record.status is RecordStatus.REPAIRED
        assert applications.active_bans([resident.id_number_index]) == []
        assert services.score(resident.id_number_index) == (100, "A")
        assert messages(resident, "credit_repair_granted")
        assert messages(resident, "credit_repair_refused")
    assert audited("credit.repair_request")
    removal = db.session.scalars(
        sa.select(CreditChange).where(CreditChange.record_id == record.id).order_by(CreditChange.id)
    ).all()[-1]
    assert removal.action is ChangeAction.REMOVED
    assert removal.payload["removed_reason"] == "repaired"
    assert services.history(record)[-1]["what"] == "repair_granted"


# --- the waiting list ------------------------------------------------------------------------


def test_a_major_record_of_a_member_suspends_the_household_and_annulment_restores_it(
    district, flagger, confirmer
):
    entry = waiting_entry(district)
    spouse = entry.application.members[1]
    applicant = entry.application.applicant
    record = recorded(
        flagger, confirmer, id_number=spouse.id_number, code="V-VACANT", name=spouse.name
    )
    assert entry.status is EntryStatus.SUSPENDED
    assert entry.object_by is None
    with force_locale("en"):
        (sentence,) = suspension_sentences(entry)
    assert record.reference in sentence
    assert "vacant" in sentence
    assert messages(applicant, "waitlist_credit_suspended")[0]["record"] == record.reference

    # the yearly-check job never removes a household suspended for credit
    assert waitlist.remove_unanswered(today() + timedelta(days=400)) == {"removed": 0}
    assert entry.status is EntryStatus.SUSPENDED

    subject = ResidentFactory(id_number=spouse.id_number)
    subject.id_number_index = spouse.id_index
    appeal = services.object_to_record(subject, record, REASON)
    services.decide_appeal(appeal, confirmer, granted=True, reason="房屋有人居住，闲置不成立。")
    assert entry.status is EntryStatus.WAITING
    assert entry.status_reason is None
    assert messages(applicant, "waitlist_credit_restored")
    kinds = [e.kind for e in waitlist.events_of(entry)]
    assert kinds[-2:] == ["credit_suspended", "credit_restored"]


def test_the_household_waits_again_only_when_no_record_suspends_it(district, flagger, confirmer):
    entry = waiting_entry(district)
    applicant = entry.application.applicant
    spouse = entry.application.members[1]
    first = recorded(flagger, confirmer, id_number=applicant.id_number, code="V-VACANT")
    second = recorded(flagger, confirmer, id_number=spouse.id_number, code="V-SUBLET")
    assert len(json.loads(entry.status_reason)) == 2
    appeal = services.object_to_record(applicant, first, REASON)
    services.decide_appeal(appeal, confirmer, granted=True, reason="闲置不成立。")
    assert entry.status is EntryStatus.SUSPENDED
    assert json.loads(entry.status_reason)[0]["params"]["reference"] == second.reference


def test_a_general_record_does_not_suspend(district, flagger, confirmer):
    entry = waiting_entry(district)
    recorded(flagger, confirmer, id_number=entry.application.applicant.id_number, code="V-BREACH")
    assert entry.status is EntryStatus.WAITING


# --- expiry ----------------------------------------------------------------------------------


def test_expiry_ends_a_major_record_on_its_date_and_restores_the_household(
    district, flagger, confirmer
):
    start = date(2027, 3, 1)
    entry = waiting_entry(district, qualified_on=date(2026, 1, 5))
    applicant = entry.application.applicant
    with time_machine.travel(noon(start), tick=False):
        record = recorded(flagger, confirmer, id_number=applicant.id_number, code="V-VACANT")
    assert record.publish_until == date(2028, 3, 1)
    assert record.ban_until is None
    with time_machine.travel(noon(record.publish_until), tick=False):
        assert services.expire_due() == {"expired": 0, "unpublished": 0}
        assert services.score(applicant.id_number_index) == (85, "B")
    with time_machine.travel(noon(record.publish_until + timedelta(days=1)), tick=False):
        assert services.score(applicant.id_number_index) == (100, "A")
        assert services.expire_due() == {"expired": 1, "unpublished": 0}
        assert services.expire_due() == {"expired": 0, "unpublished": 0}  # safe to run again
    assert record.status is RecordStatus.EXPIRED
    assert record.ended_on == date(2028, 3, 2)
    assert entry.status is EntryStatus.WAITING
    assert messages(applicant, "credit_expired")[0]["reference"] == record.reference
    assert audited("credit.expire")


def test_a_serious_record_leaves_the_list_after_publication_and_its_ban_ends_by_date(
    flagger, confirmer
):
    resident = ResidentFactory()
    start = date(2027, 3, 1)
    with time_machine.travel(noon(start), tick=False):
        record = recorded(flagger, confirmer, id_number=resident.id_number)
    assert (record.publish_until, record.ban_until) == (date(2030, 3, 1), date(2032, 3, 1))
    with time_machine.travel(noon(date(2030, 3, 2)), tick=False):
        assert services.expire_due() == {"expired": 0, "unpublished": 1}
        assert services.expire_due() == {"expired": 0, "unpublished": 0}
        assert record.status is RecordStatus.ACTIVE
        assert applications.active_bans([resident.id_number_index])  # still barred
    last = db.session.scalars(
        sa.select(CreditChange).where(CreditChange.record_id == record.id).order_by(CreditChange.id)
    ).all()[-1]
    assert last.action is ChangeAction.REMOVED
    # the ban stops screening on its end date, before any job runs
    assert applications.active_bans([resident.id_number_index], date(2032, 3, 1))
    assert applications.active_bans([resident.id_number_index], date(2032, 3, 2)) == []
    with time_machine.travel(noon(date(2032, 3, 2)), tick=False):
        assert services.expire_due() == {"expired": 1, "unpublished": 0}
    assert record.status is RecordStatus.EXPIRED
    removals = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CreditChange)
        .where(CreditChange.record_id == record.id, CreditChange.action == ChangeAction.REMOVED)
    )
    assert removals == 1  # partners are told once


def test_a_record_with_an_open_objection_waits_for_the_decision(flagger, confirmer):
    resident = ResidentFactory()
    record = recorded(flagger, confirmer, id_number=resident.id_number, code="V-BREACH")
    services.object_to_record(resident, record, REASON)
    with time_machine.travel(noon(record.publish_until + timedelta(days=1)), tick=False):
        assert services.expire_due()["expired"] == 0
    assert record.status is RecordStatus.OBJECTED


def test_the_daily_job_is_registered():
    from portal.jobs.registry import JOBS

    job = JOBS["credit.expire_due"]
    assert job.schedule.period == "day"
    assert job.func() == {"expired": 0, "unpublished": 0}


# --- records the portal makes itself -----------------------------------------------------------


def test_a_false_pledge_found_in_a_spot_check_is_flagged_for_a_manager(district, confirmer):
    officer = make_staff(Role.OFFICER, districts=[district])
    entry = waiting_entry(district)
    app = entry.application
    spot = SpotCheck(application_id=app.id)
    db.session.add(spot)
    db.session.flush()
    applications.record_spot_check(spot, officer, false_pledge=True, finding="名下有未申报住房一套")
    record = db.session.scalars(
        sa.select(CreditRecord).where(CreditRecord.application_id == app.id)
    ).one()
    assert record.status is RecordStatus.PENDING
    assert record.violation_type.code == "V-FALSE-PLEDGE"
    assert record.flagged_by_id is None
    assert record.source == "spot_check"
    assert record.subject_index == app.applicant.id_number_index
    assert "名下有未申报住房一套" in record.facts
    assert audited("credit.flag")[-1].actor_label == "system"
    services.confirm(record, confirmer)
    assert record.status is RecordStatus.ACTIVE


def lease_for(district):
    entry = waiting_entry(district)
    app = entry.application
    officer = make_staff(Role.OFFICER, districts=[district])
    lease = create_lease(
        unit=UnitFactory(district=district),
        application=app,
        tenant=app.applicant,
        actor=officer,
        starts_on=today(),
        years=3,
    )
    return lease, officer


def test_arrears_of_a_lease_are_flagged_once_and_again_when_serious(district):
    lease, _ = lease_for(district)
    six = services.record_arrears(lease, 6)
    assert (six.status, six.grade, six.points) == (RecordStatus.PENDING, Grade.GENERAL, 30)
    assert (six.source, six.lease_id) == ("arrears", lease.id)
    assert lease.reference in six.facts
    assert services.record_arrears(lease, 7).id == six.id
    twelve = services.record_arrears(lease, 12)
    assert twelve.id != six.id
    assert (twelve.grade, twelve.points) == (Grade.SERIOUS, 60)
    assert services.record_arrears(lease, 13).id == twelve.id
    with pytest.raises(ValidationFailed):
        services.record_arrears(lease, 0)


def test_a_refusal_to_vacate_is_flagged_and_confirmed_asks_for_an_exit_case(district, confirmer):
    lease, officer = lease_for(district)
    record = services.record_refusal_to_vacate(lease)
    assert services.record_refusal_to_vacate(lease).id == record.id
    assert (record.grade, record.source) == (Grade.SERIOUS, "refuse_vacate")
    services.confirm(record, confirmer)
    (event,) = audited("credit.exit_case_needed")
    assert event.object_type == "leases"
    assert event.details_dict["record"] == record.reference
    (told,) = messages(officer, "credit_exit_case")
    assert told["lease"] == lease.reference
    elsewhere = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    assert messages(elsewhere, "credit_exit_case") == []

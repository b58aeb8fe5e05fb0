"""Who is paid, through the real flows: a rental subsidy household qualified when its notice
closes, a public rental household while it waits (joining the list), housed (an assistance
household's subsidy goes to its rent, the others' ends), removed, suspended and restored,
re-verified; and what the resident gives before being paid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.applications import services as applications
from portal.applications.models import Programme, Status
from portal.core.clock import today
from portal.core.errors import Forbidden, InvalidTransition, ValidationFailed
from portal.extensions import db
from portal.notices import services as notices
from portal.notifications.models import Message
from portal.subsidy import rules, services
from portal.subsidy.models import AwardBasis, AwardStatus, Channel, SubsidyAward
from portal.tenancy.models import Lease
from portal.tenancy.services import create_lease
from portal.waitlist import services as waitlist
from portal.waitlist.models import EntryStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, settle_all, submit
from tests.factories.fixtures import make_staff
from tests.factories.housing import UnitFactory
from tests.factories.registry import local_household
from tests.factories.subsidy import award, household
from tests.factories.waitlist import waiting_entry

D = Decimal


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302")


def qualified(district, officer, programme, **facts):
    """A household through application, checks, approval and a closed notice."""
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number), **facts)
    app = submit(draft_for(resident, district, programme), resident)
    settle_all(app)
    applications.approve(app, officer)
    notice = notices.publish_notice(officer, district, programme)
    after = datetime.combine(notice.ends_on + timedelta(days=1), datetime.min.time(), UTC)
    with time_machine.travel(after + timedelta(hours=4), tick=False):
        notices.close_notice(officer, notice)
    assert app.status is Status.QUALIFIED
    return app


def next_month() -> date:
    return services.next_month()


def test_a_rental_subsidy_household_is_awarded_when_its_notice_closes(district, officer):
    app = qualified(district, officer, Programme.RENTAL_SUBSIDY, wage=1500, owned_area=10)
    award_ = services.award_of(app)
    assert award_ is not None
    assert award_.basis is AwardBasis.SUBSIDY
    assert award_.status is AwardStatus.DETAILS
    assert award_.reference.startswith("S")
    basis = services.bases_of(award_)[0]
    assert (basis.household_size, basis.per_capita_income, basis.own_area) == (
        1,
        D("1500.00"),
        D("10.00"),
    )
    assert basis.actual_rent is None
    assert basis.source == "application"
    # idempotent
    assert services.start_award(app, AwardBasis.SUBSIDY, officer) is award_
    told = db.session.scalars(
        sa.select(Message).where(
            Message.user_id == app.applicant_id, Message.kind == "subsidy_awarded"
        )
    ).all()
    assert len(told) == 1


def test_a_public_rental_household_is_paid_while_it_waits(district, officer):
    app = qualified(district, officer, Programme.PUBLIC_RENTAL, assistance="dibao")
    award_ = services.award_of(app)
    assert award_.basis is AwardBasis.WAITING
    assert award_.starts_month == award_.bases[0].effective_month
    assert award_.bases[0].assistance is True
    # what next month would pay before the rent is known: 20 × 20 (one person), uncapped
    estimate = services.amount_now(award_)
    if award_.starts_month == next_month():
        assert estimate.amount == D("400.00")
        assert estimate.cap is None


def test_affordable_rental_households_are_not_paid(district, officer):
    app = qualified(district, officer, Programme.AFFORDABLE_RENTAL)
    assert services.award_of(app) is None


def _housed(entry, officer, district, **unit) -> Lease:
    """The waiting household takes a new unit of ``district`` on a three-year lease from
    today (and leaves the list)."""
    app = entry.application
    lease = create_lease(
        unit=UnitFactory(district=district, **unit),
        application=app,
        tenant=app.applicant,
        actor=officer,
        starts_on=today(),
        years=3,
    )
    waitlist.mark_housed(entry, officer, lease)
    return lease


def _waiting_award(district, officer, *, assistance: bool):
    entry = waiting_entry(district, household_size=2)
    facts = {
        "civil_affairs": {
            m.id_index: {"assistance": "dibao" if assistance else "none"}
            for m in entry.application.members
        },
        "social_security": {m.id_index: {"monthly_wage": 900} for m in entry.application.members},
    }
    award_ = services.start_award(entry.application, AwardBasis.WAITING, officer, facts=facts)
    return entry, award_


def test_housed_an_assistance_household_keeps_it_against_the_rent(district, officer):
    entry, award_ = _waiting_award(district, officer, assistance=True)
    lease = _housed(entry, officer, district, rent=D("320.00"))
    assert award_.basis is AwardBasis.TENANT
    assert award_.lease_id == lease.id
    assert award_.status is AwardStatus.ACTIVE  # no bank account needed
    # as if it had been paid since this month
    award_.starts_month = award_.bases[0].effective_month = services.month_of(today())
    # computed against the rent: 20 × 30 = 600, capped at the lease rent of 320
    services.compute_month(services.month_of(today()), officer)
    line = services.ledger_of(award_)[0].payment
    assert (line.channel, line.amount, line.cap) == (Channel.RENT, D("320.00"), D("320.00"))


def test_housed_another_household_is_no_longer_paid_from_the_next_month(district, officer):
    entry, award_ = _waiting_award(district, officer, assistance=False)
    _housed(entry, officer, district)
    assert award_.status is AwardStatus.ENDED
    assert award_.ends_month == services.next_month(today())
    assert award_.ended_reason == "housed"


def test_removed_from_the_list_the_award_ends(district, officer):
    entry, award_ = _waiting_award(district, officer, assistance=False)
    for _ in range(3):
        waitlist.record_refusal(entry, officer, good_reason=False, reason="不喜欢")
    assert entry.status is EntryStatus.REMOVED
    assert award_.status is AwardStatus.ENDED
    assert award_.ended_reason == "removed"


def test_suspended_and_restored_without_back_pay(district, officer, monkeypatch):
    entry, award_ = _waiting_award(district, officer, assistance=False)
    award_.status = AwardStatus.ACTIVE
    award_.payee_name, award_.bank_account = "x", "6222020000000001"
    award_.bases[0].actual_rent = D("1000")
    monkeypatch.setattr(waitlist, "fresh_facts", lambda app: {"civil_affairs": {}})
    # the yearly check finds the household no longer eligible (no residency data): suspended
    assert waitlist.reverify(entry, today()) == "suspended"
    assert award_.status is AwardStatus.SUSPENDED
    assert services.amount_now(award_) is None
    waitlist.object_to_suspension(entry, entry.application.applicant, "数据有误，我有户口本为证。")
    waitlist.decide_objection(entry, officer, restore=True, reason="户口本已核实")
    assert award_.status is AwardStatus.ACTIVE
    assert award_.starts_month == next_month()  # no back-pay for the month suspended


def test_kept_at_the_yearly_check_the_award_is_renewed_and_new_facts_count(
    district, officer, monkeypatch
):
    entry, award_ = _waiting_award(district, officer, assistance=False)
    app = entry.application
    fresh = {
        "public_security": {
            m.id_index: {"hukou_local": True, "hukou_since": "2000-01-01"} for m in app.members
        },
        "civil_affairs": {m.id_index: {"assistance": "none"} for m in app.members},
        "social_security": {m.id_index: {"monthly_wage": 1200} for m in app.members},
    }
    monkeypatch.setattr(waitlist, "fresh_facts", lambda a: fresh)
    award_.valid_until = today() + timedelta(days=10)
    assert waitlist.reverify(entry, today()) == "kept"
    assert award_.valid_until > today() + timedelta(days=300)
    basis = services.basis_for(award_, next_month())
    assert basis.per_capita_income == D("1200.00")
    assert basis.source == "review"


def test_details_are_given_by_the_applicant_only(district, officer):
    a = award(district, details=False)
    other = ResidentFactory()
    with pytest.raises(Forbidden):
        services.give_details(
            a, other, actual_rent="1000", payee_name="x", bank_name="bank", bank_account="1" * 16
        )
    outsider = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    with pytest.raises(Forbidden):
        services.give_details(
            a, outsider, actual_rent="1000", payee_name="x", bank_name="bank", bank_account="1" * 16
        )
    applicant = a.application.applicant
    for rent, field in (("0", "actual_rent"), ("12.345", "actual_rent"), ("abc", "actual_rent")):
        with pytest.raises(ValidationFailed) as bad:
            services.give_details(
                a,
                applicant,
                actual_rent=rent,
                payee_name=applicant.real_name,
                bank_name="工商银行",
                bank_account="6222020000000001",
            )
        assert bad.value.field == field
    services.give_details(
        a,
        applicant,
        actual_rent="980.5",
        payee_name=applicant.real_name,
        bank_name="工商银行",
        bank_account="6222-0200-0000-0001",
    )
    assert a.status is AwardStatus.ACTIVE
    assert a.bank_account == "6222020000000001"
    assert services.basis_for(a, next_month()).actual_rent == D("980.50")


def test_a_tenant_needs_no_account(district, officer):
    entry, award_ = _waiting_award(district, officer, assistance=True)
    app = entry.application
    _housed(entry, officer, district)
    with pytest.raises(InvalidTransition):
        services.give_details(
            award_,
            app.applicant,
            actual_rent="100",
            payee_name=app.applicant.real_name,
            bank_name="bank",
            bank_account="6222020000000001",
        )


def test_the_lapsed_job_and_renewal(district, officer):
    a = award(district, valid_until=today() - timedelta(days=1))
    b = award(district)
    from portal.jobs.tasks import subsidy_mark_lapsed

    assert subsidy_mark_lapsed() == {"lapsed": 1}
    assert a.status is AwardStatus.LAPSED
    assert b.status is AwardStatus.ACTIVE
    services.renew_validity(a, officer, today())
    assert a.status is AwardStatus.ACTIVE
    assert a.starts_month == next_month()


def test_a_change_is_recorded_by_the_contract_function(district, officer):
    a = award(district, income="1000")
    inputs = rules.Inputs(3, False, False, D("1500"), D("0"), None)
    basis, recovery = services.record_change(
        a, inputs, officer, occurred_on=today(), source="change"
    )
    assert recovery is None
    assert basis.effective_month == next_month()
    assert basis.actual_rent == D("2000.00")  # kept
    assert services.amount_now(a).amount == D("810.00")  # 18 × 45
    with pytest.raises(ValidationFailed):
        services.record_change(
            a, inputs, officer, occurred_on=today() + timedelta(days=1), source="change"
        )


def test_an_award_per_application(district, officer):
    app = household(district)
    first = services.start_award(app, AwardBasis.SUBSIDY, officer, facts={})
    assert services.start_award(app, AwardBasis.SUBSIDY, officer, facts={}) is first
    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SubsidyAward)
        .where(SubsidyAward.application_id == app.id)
    )
    assert count == 1


def test_closing_offsets_a_tenants_subsidy_against_the_rent(district, officer):
    from portal.tenancy.models import PaymentSource, RentPayment

    entry, award_ = _waiting_award(district, officer, assistance=True)
    lease = _housed(entry, officer, district, rent=D("320.00"))
    award_.starts_month = award_.bases[0].effective_month = services.month_of(today())
    first, second = make_staff(Role.MANAGER), make_staff(Role.MANAGER)
    run = services.compute_month(services.month_of(today()), first)
    assert run.to_rent == D("320.00")
    assert run.to_bank == 0
    services.close_run(run, second)
    paid = db.session.scalars(sa.select(RentPayment).where(RentPayment.lease_id == lease.id)).all()
    assert [(p.source, p.amount) for p in paid] == [(PaymentSource.SUBSIDY, D("320.00"))]
    assert services.bank_file_totals(run.id) == (0, D("0.00"))


def test_the_demo_computes_and_closes_last_month_and_computes_this_one(district, officer):
    from portal.subsidy import demo
    from portal.subsidy.models import RunStatus

    for _ in range(3):
        award(district, details=False, starts_month=next_month())
    managers = [make_staff(Role.MANAGER), make_staff(Role.MANAGER)]
    assert demo.load(officer, managers) == 3
    runs = services.runs()
    assert [r.status for r in runs] == [RunStatus.COMPUTED, RunStatus.CLOSED]
    assert runs[1].households == 3
    assert services.reconcile(runs[0]).ok
    assert demo.load(officer, managers) == 0  # once

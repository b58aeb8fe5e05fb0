"""Annual reviews (RULES.md "Annual review and exit"): opened on time and once, checked
against department data (retried when a department is down), a proposal per outcome, an
officer's decision (possibly different, with a reason) applied through the subsidy and
tenancy services, and the household told."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine
from flask import current_app
from flask_babel import force_locale

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.errors import Forbidden, InvalidTransition, ValidationFailed
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.jobs.core import execute
from portal.reviews import services
from portal.reviews.models import Review, ReviewKind, ReviewOutcome, ReviewStatus
from portal.subsidy.models import AwardStatus
from portal.tenancy import exits, rent
from portal.tenancy.models import ExitReason, ExitStatus, LeaseStatus, RentBasis
from portal.verification.backends import Answer
from portal.verification.departments import Department
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, messages
from tests.factories.reviews import set_facts, subsidy_household, tenant_household
from tests.factories.tenancy import noon


def reviews_of(app) -> list[Review]:
    return list(
        db.session.scalars(
            sa.select(Review).where(Review.application_id == app.id).order_by(Review.id)
        )
    )


def at(day: date):
    return time_machine.travel(noon(day), tick=False)


def after_answer_time(review: Review):
    return at(review.answer_by + timedelta(days=1))


class DepartmentDown:
    name, concurrent = "down", False

    def lookup(self, department, people, timeout):
        return Answer(department, "error", source=self.name, error="timeout")


# --- opening -------------------------------------------------------------------------------


def test_the_daily_job_opens_a_review_within_the_notice_and_only_once(district, officer):
    due = tenant_household(district, officer, review_in_days=30)
    later = tenant_household(district, officer, review_in_days=31)

    counts = services.open_due()
    assert counts["opened"] == 1
    assert counts["checked"] == 0  # the new one was checked when it opened
    [review] = reviews_of(due.application)
    assert reviews_of(later.application) == []
    assert review.kind is ReviewKind.ANNUAL
    assert review.reference == f"R{today().year}{review.id:06d}"
    assert review.lease_id == due.id
    assert review.district_id == district.id
    assert review.due_on == due.next_review_on
    assert review.answer_by == today() + timedelta(days=15)
    assert review.status is ReviewStatus.DECISION  # checked at once (no workers here)
    [told] = messages(due.application.applicant, "review_opened")
    assert told["reference"] == review.reference
    assert told["answer_by"] == review.answer_by.isoformat()

    assert services.open_due()["opened"] == 0  # the next day's run: nothing new
    assert (
        services.open_review(due.application, ReviewKind.ANNUAL, officer, due_on=due.next_review_on)
        is review
    )  # one open review per household
    assert len(reviews_of(due.application)) == 1

    with at(later.next_review_on - timedelta(days=30)):
        assert services.open_due()["opened"] == 1
    assert len(reviews_of(later.application)) == 1


def test_a_decided_review_is_not_opened_again_for_the_same_due_date(district, officer):
    lease = tenant_household(district, officer, review_in_days=10)
    services.open_due()
    [review] = reviews_of(lease.application)
    services.answer(review, lease.tenant, "我们家情况没有变化，谢谢。")
    services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert services.open_due()["opened"] == 0
    assert len(reviews_of(lease.application)) == 1


def test_subsidy_households_are_reviewed_before_their_award_expires(district, officer):
    award = subsidy_household(district, officer, valid_in_days=25)
    far = subsidy_household(district, officer, valid_in_days=60)
    assert services.open_due()["opened"] == 1
    [review] = reviews_of(award.application)
    assert review.award_id == award.id
    assert review.lease_id is None
    assert review.due_on == award.valid_until
    assert reviews_of(far.application) == []


def test_leases_in_an_exit_are_not_reviewed(district, officer):
    lease = tenant_household(district, officer, review_in_days=5)
    exits.open_case(lease, ExitReason.VOLUNTARY, officer, facts="住户自愿搬离，已提交申请。")
    assert services.open_due()["opened"] == 0


def test_a_lease_without_a_review_date_gets_one(district, officer):
    lease = tenant_household(district, officer)
    lease.next_review_on = None
    db.session.flush()
    assert services.open_due()["scheduled"] == 1
    assert lease.next_review_on == rent.add_months(lease.starts_on, 12)


# --- checks --------------------------------------------------------------------------------


def test_departments_that_do_not_answer_are_asked_again(district, officer, monkeypatch):
    lease = tenant_household(district, officer)
    monkeypatch.setitem(current_app.extensions, "portal.department_source", DepartmentDown())
    counts = services.open_due()
    assert counts["opened"] == 1
    [review] = reviews_of(lease.application)
    assert review.status is ReviewStatus.OPEN
    assert review.checked_at is None
    assert review.proposed is None

    assert services.open_due()["unanswered"] == 1  # still down the next day
    assert review.status is ReviewStatus.OPEN
    unanswered = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "review.checks_unanswered")
    ).all()
    assert len(unanswered) == 1  # one line, not one a day

    monkeypatch.undo()
    assert services.open_due()["checked"] == 1
    assert review.status is ReviewStatus.DECISION
    assert review.proposed is ReviewOutcome.CONTINUE


def test_the_retry_job_runs_through_the_job_runner(district, officer, monkeypatch):
    lease = tenant_household(district, officer)
    monkeypatch.setitem(current_app.extensions, "portal.department_source", DepartmentDown())
    services.open_due()
    monkeypatch.undo()
    outcome = services.retry_checks()
    assert outcome["checked"] == 1
    [review] = reviews_of(lease.application)
    assert review.status is ReviewStatus.DECISION


def test_a_review_cannot_be_decided_before_the_departments_answered(district, officer, monkeypatch):
    lease = tenant_household(district, officer)
    monkeypatch.setitem(current_app.extensions, "portal.department_source", DepartmentDown())
    services.open_due()
    [review] = reviews_of(lease.application)
    with after_answer_time(review), pytest.raises(InvalidTransition):
        services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert review.status is ReviewStatus.OPEN


# --- proposals -----------------------------------------------------------------------------


def opened(lease_or_award) -> Review:
    services.open_due()
    [review] = reviews_of(lease_or_award.application)
    assert review.status is ReviewStatus.DECISION
    return review


def test_an_eligible_tenant_is_proposed_to_continue(district, officer):
    review = opened(tenant_household(district, officer))
    assert review.proposed is ReviewOutcome.CONTINUE
    evaluation = review.evaluation
    assert evaluation["eligible"] is True
    assert {r["code"] for r in evaluation["results"]} >= {"income", "housing"}
    assert review.rule_version_id is not None
    assert review.facts["social_security"]  # the facts of the check are kept


def test_a_tenant_over_the_income_line_without_other_home_is_proposed_market_rent(
    district, officer
):
    review = opened(tenant_household(district, officer, wage=3000))
    assert review.proposed is ReviewOutcome.MARKET_RENT
    assert review.proposal["failed"] == ["income"]
    assert review.proposal["market_rent"] == "1000.00"  # 20.00 yuan/m² × 50 m²
    assert review.proposal["contract_rent"] == "500.00"


def test_a_tenant_who_owns_a_home_is_proposed_to_exit_for_other_housing(district, officer):
    review = opened(tenant_household(district, officer, owned_area=120))
    assert review.proposed is ReviewOutcome.EXIT
    assert review.proposal["exit_reason"] == ExitReason.OTHER_HOUSING.value
    assert "housing" in review.proposal["failed"]


def test_a_tenant_failing_more_than_income_is_proposed_to_exit_as_ineligible(district, officer):
    lease = tenant_household(district, officer, wage=3000)
    spouse = ResidentFactory()  # a marriage the household did not declare
    set_facts(
        lease.application,
        Department.CIVIL_AFFAIRS,
        marital_status="married",
        spouse_index=spouse.id_number_index,
        spouse_masked="4503**********1234",
    )
    review = opened(lease)
    assert review.proposed is ReviewOutcome.EXIT
    assert review.proposal["exit_reason"] == ExitReason.INELIGIBLE.value
    assert review.proposal["failed"] == ["household", "income"]


def test_a_subsidy_household_over_the_income_line_is_proposed_to_exit(district, officer):
    award = subsidy_household(district, officer)
    set_facts(award.application, Department.SOCIAL_SECURITY, monthly_wage=3000)
    review = opened(award)
    assert review.proposed is ReviewOutcome.EXIT  # no lease: no market rent
    assert review.proposal["exit_reason"] == ExitReason.INELIGIBLE.value


def test_a_changed_subsidy_is_proposed_as_an_adjustment(district, officer):
    award = subsidy_household(district, officer)  # wage 1,200: tier 1
    same = subsidy_household(district, officer)
    set_facts(award.application, Department.CIVIL_AFFAIRS, assistance="dibao")
    review = opened(award)
    assert review.proposed is ReviewOutcome.ADJUST_SUBSIDY
    subsidy = review.proposal["subsidy"]
    assert Decimal(subsidy["new"]) > Decimal(subsidy["old"])  # 20 yuan/m² instead of 18
    assert opened(same).proposed is ReviewOutcome.CONTINUE


# --- deciding ------------------------------------------------------------------------------


def test_the_household_may_answer_before_the_officer_decides(district, officer):
    lease = tenant_household(district, officer)
    review = opened(lease)
    with pytest.raises(InvalidTransition):
        services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    with pytest.raises(ValidationFailed):
        services.answer(review, lease.tenant, "太短")
    with pytest.raises(Forbidden):
        services.answer(review, ResidentFactory(), "这不是我家的复核，但我想回答。")
    services.answer(review, lease.tenant, "我们家的收入没有变化，一切照旧。")
    services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert review.status is ReviewStatus.DECIDED


def test_the_answer_time_passes(district, officer):
    lease = tenant_household(district, officer)
    review = opened(lease)
    with after_answer_time(review):
        with pytest.raises(InvalidTransition):
            services.answer(review, lease.tenant, "我们家的收入没有变化，一切照旧。")
        services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert review.outcome is ReviewOutcome.CONTINUE


def test_only_an_officer_of_the_district_decides(district, officer):
    review = opened(tenant_household(district, officer))
    other = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    manager = make_staff(Role.MANAGER)
    with after_answer_time(review):
        for who in (other, manager):
            with pytest.raises(Forbidden):
                services.decide(review, who, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert review.status is ReviewStatus.DECISION


def test_continue_moves_the_next_review_a_year_on_and_tells_the_household(district, officer):
    lease = tenant_household(district, officer)
    due = lease.next_review_on
    review = opened(lease)
    with after_answer_time(review):
        services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert lease.next_review_on == rent.add_months(due, 12)
    assert review.decided_by_id == officer.id
    [told] = messages(lease.tenant, "review_decided")
    assert told["reason"] == "条件均符合"
    assert told["reference"] == review.reference
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "review.decide")
    ).one()
    assert event.details_dict["outcome"] == "continue"
    assert event.details_dict["overridden"] is False


def test_an_officer_may_decide_otherwise_with_a_reason(district, officer):
    lease = tenant_household(district, officer)
    review = opened(lease)
    assert review.proposed is ReviewOutcome.CONTINUE
    with after_answer_time(review):
        with pytest.raises(ValidationFailed) as refused:
            services.decide(review, officer, outcome=ReviewOutcome.EXIT, reason="")
        assert refused.value.field == "reason"
        with force_locale("en"):
            assert "proposal" in str(refused.value)
        assert review.status is ReviewStatus.DECISION  # unchanged
        services.decide(
            review,
            officer,
            outcome=ReviewOutcome.EXIT,
            reason="现场核查发现该户长期不在此居住，房屋空置。",
        )
    assert review.outcome is ReviewOutcome.EXIT
    case = exits.open_case_of(lease)
    assert case is not None
    assert case.review_id == review.id
    assert case.reason is ExitReason.INELIGIBLE
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "review.decide")
    ).one()
    assert event.details_dict["overridden"] is True


def test_market_rent_is_charged_from_the_next_month(district, officer):
    lease = tenant_household(district, officer, wage=3000)
    review = opened(lease)
    decided_on = review.answer_by + timedelta(days=1)
    with at(decided_on):
        services.decide(
            review, officer, outcome=ReviewOutcome.MARKET_RENT, reason="收入超过标准，但无其他住房"
        )
    assert lease.rent_basis is RentBasis.MARKET
    next_month = services.first_of_next_month(decided_on)
    with at(next_month + timedelta(days=2)):
        rent.ensure_charges(lease)
    charge = rent.charge_of_month(lease, next_month)
    assert charge.amount == Decimal("1000.00")  # the market rent, not the contract's 500.00
    assert lease.next_review_on > decided_on
    [told] = messages(lease.tenant, "review_decided")
    assert "1000.00" in told["effect"]


def test_market_rent_needs_the_estates_market_rent(district, officer):
    lease = tenant_household(district, officer, wage=3000, market_rate=None)
    review = opened(lease)
    assert review.proposed is ReviewOutcome.MARKET_RENT
    assert review.proposal["market_rent"] is None
    with after_answer_time(review), pytest.raises(ValidationFailed) as refused:
        services.decide(review, officer, outcome=ReviewOutcome.MARKET_RENT, reason="收入超标")
    with force_locale("en"):
        assert "market rent" in str(refused.value)
    assert review.status is ReviewStatus.DECISION
    assert lease.rent_basis is RentBasis.CONTRACT


def test_a_subsidy_household_continues_with_a_renewed_award(district, officer):
    award = subsidy_household(district, officer)
    before = award.valid_until
    review = opened(award)
    with after_answer_time(review):
        services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert award.valid_until > before


def test_an_adjusted_subsidy_records_the_new_facts_from_next_month(district, officer):
    from portal.subsidy.services import amount_for, bases_of

    award = subsidy_household(district, officer)
    set_facts(award.application, Department.CIVIL_AFFAIRS, assistance="dibao")
    review = opened(award)
    decided_on = review.answer_by + timedelta(days=1)
    with at(decided_on):
        services.decide(
            review, officer, outcome=ReviewOutcome.ADJUST_SUBSIDY, reason="低保户，补贴标准提高"
        )
    latest = bases_of(award)[-1]
    assert latest.source == "review"
    assert latest.assistance is True
    assert latest.effective_month == services.first_of_next_month(decided_on)
    with at(decided_on):
        computed = amount_for(award, services.first_of_next_month(decided_on))
    assert str(computed.amount) == review.proposal["subsidy"]["new"]


def test_a_subsidy_household_no_longer_eligible_loses_its_subsidy(district, officer):
    award = subsidy_household(district, officer)
    set_facts(award.application, Department.SOCIAL_SECURITY, monthly_wage=3000)
    review = opened(award)
    decided_on = review.answer_by + timedelta(days=1)
    with at(decided_on):
        services.decide(review, officer, outcome=ReviewOutcome.EXIT, reason="收入超过标准")
    assert award.status is AwardStatus.ENDED
    assert award.ends_month == services.first_of_next_month(decided_on)


def test_a_review_moves_a_household_through_exit_to_check_out(district, officer):
    """The issue's journey: a review ends in an exit case, and the home is taken back."""
    lease = tenant_household(district, officer, owned_area=120)
    unit = lease.unit
    review = opened(lease)
    decided_on = review.answer_by + timedelta(days=1)
    with at(decided_on):
        services.decide(review, officer, outcome=ReviewOutcome.EXIT, reason="已购买其他住房")
    case = exits.open_case_of(lease)
    assert case.reason is ExitReason.OTHER_HOUSING
    assert case.review_id == review.id
    assert review.reference in case.facts
    with at(decided_on + timedelta(days=40)):
        exits.check_out(
            case,
            officer,
            on=decided_on + timedelta(days=40),
            condition_note="房屋完好，钥匙已交回。",
            keys_returned=True,
            damages="0",
        )
    assert case.status is ExitStatus.CHECKED_OUT
    assert lease.status is LeaseStatus.ENDED
    assert unit.status is UnitStatus.VACANT
    assert unit.vacated_on == decided_on + timedelta(days=40)


def test_an_ended_lease_cancels_its_open_review(district, officer, monkeypatch):
    from portal.tenancy.services import end_lease

    lease = tenant_household(district, officer)
    monkeypatch.setitem(current_app.extensions, "portal.department_source", DepartmentDown())
    services.open_due()
    [review] = reviews_of(lease.application)
    end_lease(lease, officer, today())
    assert services.open_due()["cancelled"] == 1
    assert review.status is ReviewStatus.CANCELLED


# --- change reports ------------------------------------------------------------------------


def test_a_reported_change_opens_a_change_review(district, officer):
    lease = tenant_household(district, officer, review_in_days=200)
    set_facts(lease.application, Department.SOCIAL_SECURITY, monthly_wage=3000)
    review = services.report_change(lease.tenant, "income", "我换了新工作，月工资三千元。")
    assert review.kind is ReviewKind.CHANGE
    assert "月工资三千元" in review.answer
    assert review.answered_at is not None
    assert review.proposed is ReviewOutcome.MARKET_RENT
    # answered: the officer may decide at once; a change review keeps the yearly date
    before = lease.next_review_on
    services.decide(review, officer, outcome=ReviewOutcome.MARKET_RENT, reason="收入超过标准")
    assert lease.next_review_on == before


def test_a_change_reported_during_a_review_joins_it(district, officer):
    lease = tenant_household(district, officer)
    review = opened(lease)
    assert review.proposed is ReviewOutcome.CONTINUE
    set_facts(lease.application, Department.PROPERTY, owned_area=150, properties=1)
    joined = services.report_change(lease.tenant, "other", "我们上个月买了一套商品房。")
    assert joined.id == review.id
    assert review.proposed is ReviewOutcome.EXIT  # the departments were asked again
    assert len(reviews_of(lease.application)) == 1


def test_only_a_household_with_a_lease_or_subsidy_reports_a_change(db):
    with pytest.raises(InvalidTransition):
        services.report_change(ResidentFactory(), "income", "我换了新工作，月工资三千元。")


def test_the_checks_job_is_registered_and_idempotent(district, officer):
    lease = tenant_household(district, officer)
    review = opened(lease)
    outcome = execute("reviews.run_checks", {"review_id": review.id})
    assert outcome.result == {"outcome": "checked"}
    with after_answer_time(review):
        services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
        assert execute("reviews.run_checks", {"review_id": review.id}).result == {
            "outcome": "skipped"
        }


def test_the_demo_opens_reviews_and_asks_renewals(district, officer):
    from portal.reviews import demo

    tenant_household(district, officer)  # due in 20 days
    award = subsidy_household(district, officer, valid_in_days=None)  # a year: not due
    ending = tenant_household(district, officer, review_in_days=300)
    ending.ends_on = today() + timedelta(days=60)
    db.session.flush()
    assert demo.load(officer) == {"reviews": 2, "renewals": 1}
    assert reviews_of(award.application)[0].award_id == award.id
    assert demo.load(officer) == {"reviews": 0, "renewals": 0}

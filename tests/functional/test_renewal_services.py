"""Lease renewals (RULES.md "Allocation": renewal asked 3 months before expiry): asked once,
on time; renew → a review whose decision extends the lease or refuses it; not renewing or
not answering → an exit case (reason REFUSED_RENEWAL) with the lease's end as the day to
move out."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.core.errors import Forbidden, InvalidTransition
from portal.extensions import db
from portal.notifications.models import Message
from portal.reviews import renewals, services
from portal.reviews.models import (
    LeaseRenewal,
    RenewalStatus,
    Review,
    ReviewKind,
    ReviewOutcome,
    ReviewStatus,
)
from portal.tenancy import exits, rent
from portal.tenancy.models import ExitReason
from portal.tenancy.services import add_years
from portal.verification.departments import Department
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff
from tests.factories.reviews import lease_to_renew, set_facts
from tests.factories.tenancy import noon

ENDS = date(2029, 3, 15)  # a three-year lease
ASK_ON = date(2028, 12, 15)  # three months before


def at(day: date):
    return time_machine.travel(noon(day), tick=False)


@pytest.fixture
def lease(district, officer):
    lease = lease_to_renew(district, officer)
    assert lease.ends_on == ENDS
    return lease


def renewal_of(lease) -> LeaseRenewal | None:
    return db.session.scalars(
        sa.select(LeaseRenewal).where(LeaseRenewal.lease_id == lease.id)
    ).one_or_none()


def asked(lease) -> LeaseRenewal:
    with at(ASK_ON):
        assert renewals.ask_due()["asked"] == 1
    return renewal_of(lease)


def test_the_tenant_is_asked_three_months_before_the_lease_ends_and_once(lease):
    with at(ASK_ON - timedelta(days=1)):
        assert renewals.ask_due()["asked"] == 0
    renewal = asked(lease)
    assert renewal.status is RenewalStatus.ASKED
    assert renewal.old_ends_on == ENDS
    assert renewal.asked_on == ASK_ON
    assert renewal.answer_by == ASK_ON + timedelta(days=30)
    [message] = Message.query.filter_by(user_id=lease.tenant_id, kind="renewal_asked").all()
    assert json.loads(message.params_json)["ends_on"] == ENDS.isoformat()
    with at(ASK_ON + timedelta(days=1)):
        assert renewals.ask_due()["asked"] == 0
    assert LeaseRenewal.query.filter_by(lease_id=lease.id).count() == 1


def test_renewing_opens_a_review_whose_continue_extends_the_lease(lease, officer):
    renewal = asked(lease)
    with at(ASK_ON + timedelta(days=3)):
        with pytest.raises(Forbidden):
            renewals.answer(renewal, ResidentFactory(), renew=True)
        renewals.answer(renewal, lease.tenant, renew=True)
        with pytest.raises(InvalidTransition):
            renewals.answer(renewal, lease.tenant, renew=False)
    assert renewal.status is RenewalStatus.REVIEWING
    review = db.session.get(Review, renewal.review_id)
    assert review.kind is ReviewKind.RENEWAL
    assert review.due_on == ENDS
    assert review.status is ReviewStatus.DECISION
    assert review.proposed is ReviewOutcome.CONTINUE
    with at(review.answer_by + timedelta(days=1)):
        services.decide(review, officer, outcome=ReviewOutcome.CONTINUE, reason="条件均符合")
    assert renewal.status is RenewalStatus.RENEWED
    assert renewal.new_ends_on == add_years(ENDS, 3)
    assert lease.ends_on == date(2032, 3, 15)
    [told] = Message.query.filter_by(user_id=lease.tenant_id, kind="review_decided").all()
    assert "2032" in json.loads(told.params_json)["effect"]


def test_a_renewal_at_market_rent_renews_too(lease, officer):
    set_facts(lease.application, Department.SOCIAL_SECURITY, monthly_wage=3000)
    renewal = asked(lease)
    with at(ASK_ON + timedelta(days=3)):
        renewals.answer(renewal, lease.tenant, renew=True)
    review = db.session.get(Review, renewal.review_id)
    assert review.proposed is ReviewOutcome.MARKET_RENT
    with at(review.answer_by + timedelta(days=1)):
        services.decide(
            review, officer, outcome=ReviewOutcome.MARKET_RENT, reason="收入超标，无其他住房"
        )
    assert renewal.status is RenewalStatus.RENEWED
    assert lease.ends_on == date(2032, 3, 15)
    assert lease.rent_basis.value == "market"


def test_a_review_ending_in_exit_refuses_the_renewal(lease, officer):
    set_facts(lease.application, Department.PROPERTY, owned_area=130, properties=1)
    renewal = asked(lease)
    with at(ASK_ON + timedelta(days=3)):
        renewals.answer(renewal, lease.tenant, renew=True)
    review = db.session.get(Review, renewal.review_id)
    assert review.proposed is ReviewOutcome.EXIT
    decided_on = review.answer_by + timedelta(days=1)
    with at(decided_on):
        services.decide(review, officer, outcome=ReviewOutcome.EXIT, reason="已购买其他住房")
    assert renewal.status is RenewalStatus.REFUSED
    assert lease.ends_on == ENDS
    case = exits.open_case_of(lease)
    assert case.reason is ExitReason.REFUSED_RENEWAL
    assert case.review_id == review.id
    assert case.move_out_by == ENDS  # the lease's end, later than the decision


def test_not_renewing_opens_an_exit_case_at_the_lease_end(lease):
    renewal = asked(lease)
    with at(ASK_ON + timedelta(days=5)):
        renewals.answer(renewal, lease.tenant, renew=False)
    assert renewal.status is RenewalStatus.DECLINED
    case = exits.open_case_of(lease)
    assert case.reason is ExitReason.REFUSED_RENEWAL
    assert case.move_out_by == ENDS
    assert lease.reference in case.facts


def test_no_answer_by_the_lease_end_lapses(lease):
    renewal = asked(lease)
    with at(ENDS - timedelta(days=1)):
        assert renewals.ask_due()["lapsed"] == 0
    with at(ENDS):
        assert renewals.can_answer(renewal) is False
        assert renewals.ask_due()["lapsed"] == 1
    assert renewal.status is RenewalStatus.LAPSED
    case = exits.open_case_of(lease)
    assert case.reason is ExitReason.REFUSED_RENEWAL
    with at(ENDS + timedelta(days=1)):
        assert renewals.ask_due() == {"asked": 0, "lapsed": 0, "failed": 0}


def test_an_answer_after_the_day_asked_is_still_taken_before_the_lease_ends(lease):
    renewal = asked(lease)
    with at(renewal.answer_by + timedelta(days=10)):
        renewals.answer(renewal, lease.tenant, renew=False)
    assert renewal.status is RenewalStatus.DECLINED


def test_leases_in_an_exit_are_not_asked(lease, officer):
    with at(ASK_ON - timedelta(days=10)):
        exits.open_case(lease, ExitReason.VOLUNTARY, officer, facts="住户自愿搬离，已提交申请。")
    with at(ASK_ON):
        assert renewals.ask_due()["asked"] == 0


def test_officers_see_their_districts_renewals(lease, officer):
    renewal = asked(lease)
    assert renewals.renewals(officer) == [renewal]
    assert renewals.renewals(make_staff(Role.OFFICER, districts=[DistrictFactory()])) == []
    assert renewals.renewals(make_staff(Role.MANAGER)) == [renewal]
    assert rent.add_months(ASK_ON, 3) == ENDS

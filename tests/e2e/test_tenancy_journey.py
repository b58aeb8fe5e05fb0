"""Issue 5 in the browser, on the demo city.

- A month of rental subsidy: an officer opens the computed month and its reconciliation,
  records a late correction for one household (its closed month becomes a recovery),
  computes the month again and reads what changed; a manager who did not compute it closes
  it and prepares the bank file; the household reads its subsidy on a phone.
- Annual reviews: an officer decides one tenant's review as market rent (the lease's rent
  basis changes) and another's as exit; the exit case runs through check-out and the
  deposit settlement, and the unit returns to stock as vacated.
"""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from portal.core.clock import today
from tests.e2e.helpers import sign_in


def _portal(server):
    from portal import create_app

    inst = server["instance"]
    return create_app(
        "development",
        instance_path=str(inst),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{inst / 'portal.db'}",
    )


def _paid_subsidy_household(server) -> tuple[str, str, str]:
    """An award of the demo's paid subsidy households (rental subsidy basis, paid to a
    bank): its reference, the resident's mobile, and the resident's name."""
    from portal.extensions import db
    from portal.subsidy.models import AwardBasis, AwardStatus, SubsidyAward

    with _portal(server).app_context():
        award = db.session.scalars(
            sa.select(SubsidyAward)
            .where(
                SubsidyAward.status == AwardStatus.ACTIVE,
                SubsidyAward.basis == AwardBasis.SUBSIDY,
            )
            .order_by(SubsidyAward.id)
            .limit(1)
        ).one()
        user = award.application.applicant
        return award.reference, user.mobile, user.real_name


def test_a_month_is_computed_corrected_computed_again_and_closed(server, new_page):
    reference, mobile, _name = _paid_subsidy_household(server)
    officer = new_page(locale="en")
    sign_in(officer, server, "demo.officer", staff=True)
    officer.goto(server["url"] + "/staff/subsidy/")
    this_month = today().replace(day=1)
    officer.get_by_role("link", name=re.compile(this_month.strftime("%B %Y"))).first.click()
    main = officer.locator("main")
    expect(main).to_contain_text("Computed: may be corrected and computed again")
    expect(main.locator(".badge-fail")).to_have_count(0)  # every reconciliation line agrees

    # a late correction: the household's income rose two months ago, so last month (closed)
    # was paid too much
    officer.goto(server["url"] + f"/staff/subsidy/awards?q={reference}")
    officer.get_by_role("link", name=reference).click()
    officer.get_by_label("Household size (persons)").fill("1")
    officer.get_by_label("Income per person a month (yuan)").fill("2600")
    officer.get_by_label("Housing area owned (m²)").fill("0")
    two_months_ago = (this_month - timedelta(days=40)).replace(day=1)
    officer.get_by_label("The change happened on").fill(two_months_ago.isoformat())
    officer.get_by_label("What changed and how you know it").fill(
        "社保数据显示申请人自上月起工资上调，经本人确认。"
    )
    officer.get_by_role("button", name="Record the change").click()
    expect(officer.locator(".flash-success")).to_be_visible()
    expect(officer.locator("main")).to_contain_text("Being recovered")

    # the month is computed again: the history names what changed
    officer.goto(server["url"] + "/staff/subsidy/")
    officer.get_by_role("link", name=re.compile(this_month.strftime("%B %Y"))).first.click()
    expect(officer.locator("main")).to_contain_text("Facts changed since this month")
    officer.get_by_role("button", name="Compute again").click()
    expect(officer.locator("main")).to_contain_text(re.compile(r"\d+ households changed"))
    expect(officer.locator("main")).to_contain_text(reference)
    expect(officer.locator("main .badge-fail")).to_have_count(0)
    officer.get_by_role("button", name="Compute again").click()
    expect(officer.locator("main .timeline li").last).to_contain_text("Unchanged.")
    run_url = officer.url

    # a manager who did not compute it closes it and prepares the bank file
    manager = new_page(locale="en")
    sign_in(manager, server, "demo.manager", staff=True)
    manager.goto(run_url)
    manager.get_by_role("button", name="Close the month: pay it").click()
    expect(manager.locator("main")).to_contain_text("Closed: paid")
    expect(manager.locator("main .badge-fail")).to_have_count(0)
    manager.get_by_role("button", name="Prepare the bank file").click()
    expect(manager.locator("main")).to_contain_text(re.compile("bank file", re.I))

    # the household reads its subsidy, the explanation and the recovery on a phone
    resident = new_page(locale="en", phone=True)
    sign_in(resident, server, mobile)
    resident.goto(server["url"] + "/my/subsidy")
    expect(resident.locator("main")).to_contain_text(reference)
    expect(resident.locator("main")).to_contain_text("Overpayments")
    expect(resident.locator("main")).to_contain_text("280.00 yuan")  # 14 × 20 m², tier above


def _two_tenant_reviews(server) -> list[tuple[str, str, str]]:
    """Two demo tenants' reviews awaiting a decision: (review reference, lease reference,
    the tenant's mobile)."""
    from portal.accounts.models import User
    from portal.extensions import db
    from portal.reviews.models import Review, ReviewStatus
    from portal.tenancy.models import Lease

    with _portal(server).app_context():
        rows = db.session.execute(
            sa.select(Review.reference, Lease.reference, User.mobile)
            .join(Lease, Lease.id == Review.lease_id)
            .join(User, User.id == Lease.tenant_id)
            .where(Review.status == ReviewStatus.DECISION)
            .order_by(Review.id)
            .limit(2)
        ).all()
        return [tuple(r) for r in rows]


def _answer(server, new_page, mobile: str, text: str) -> None:
    """The tenant answers the review on a phone (the officer decides once it has)."""
    tenant = new_page(locale="en", phone=True)
    sign_in(tenant, server, mobile)
    tenant.goto(server["url"] + "/my/review")
    box = tenant.get_by_role("textbox", name="Your answer")
    box.fill(text)
    tenant.locator("form", has=box).get_by_role("button", name="Send my answer").click()
    expect(tenant.locator(".flash-success")).to_be_visible()
    tenant.context.close()


def test_reviews_move_one_tenant_to_market_rent_and_another_out(server, new_page):
    (market_review, market_lease, market_mobile), (exit_review, exit_lease, exit_mobile) = (
        _two_tenant_reviews(server)
    )
    _answer(server, new_page, market_mobile, "我今年换了工作，收入提高了，名下没有其他住房。")
    _answer(server, new_page, exit_mobile, "我家去年在临桂买了一套商品房。")
    officer = new_page(locale="en")
    sign_in(officer, server, "demo.officer", staff=True)

    officer.goto(server["url"] + "/staff/annual-reviews?status=decision")
    officer.get_by_role("link", name=market_review).click()
    officer.get_by_label("Stay at market rent").check()
    officer.get_by_label("Reason given to the household").fill(
        "家庭人均收入已超过保障标准，名下无其他住房，按市场租金续住。"
    )
    officer.get_by_role("button", name="Decide and apply").click()
    expect(officer.locator("main")).to_contain_text("Stay at market rent")
    officer.goto(server["url"] + f"/staff/tenancy/?q={market_lease}")
    officer.get_by_role("link", name=market_lease).click()
    expect(officer.locator("main")).to_contain_text("Market rent")

    officer.goto(server["url"] + "/staff/annual-reviews?status=decision")
    officer.get_by_role("link", name=exit_review).click()
    officer.get_by_label("Exit", exact=True).check()
    officer.get_by_label("Reason given to the household").fill(
        "经核查家庭已不符合保障条件，依规退出，给予三个月搬迁期。"
    )
    officer.get_by_role("button", name="Decide and apply").click()
    expect(officer.locator("main")).to_contain_text("Exit reason")

    # the exit case: check-out, then the deposit settlement
    officer.goto(server["url"] + "/staff/tenancy/exits")
    row = officer.locator("tr", has_text=exit_lease).first
    row.get_by_role("link").first.click()
    expect(officer.locator("main")).to_contain_text("Moving period")
    officer.get_by_label("Check-out date").fill(today().isoformat())
    officer.get_by_label("Condition of the home").fill("房屋及设施完好，水电表读数已抄录。")
    officer.get_by_label("All keys returned").check()
    officer.get_by_label("Damages to charge (yuan)").fill("0")
    officer.get_by_role("button", name="Record the check-out").click()
    expect(officer.locator("main")).to_contain_text("Checked out: deposit to settle")
    officer.get_by_role("button", name="Settle and close the case").click()
    expect(officer.locator("main")).to_contain_text("Settled and closed")

    from portal.extensions import db
    from portal.housing.models import UnitStatus
    from portal.tenancy.models import Lease, LeaseStatus

    with _portal(server).app_context():
        lease = db.session.scalars(sa.select(Lease).where(Lease.reference == exit_lease)).one()
        assert lease.status is LeaseStatus.ENDED
        assert lease.unit.status is UnitStatus.VACANT
        assert lease.unit.vacated_on == today()

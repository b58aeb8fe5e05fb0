"""The exit pages: an officer opens a case from the lease's page, the queue puts overdue
cases first, the case page records the check-out (errors keep what was typed), settles the
deposit and cancels; the household gives notice on its home page and follows its case;
another district's officer gets 404."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.extensions import db
from portal.housing.models import UnitStatus
from portal.tenancy import exits, rent
from portal.tenancy.models import ExitReason, ExitStatus, LeaseStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, page_text, resident_browser, staff_browser
from tests.factories.tenancy import make_lease

FACTS = "经现场核查，承租人将住房转租给他人居住。"


@pytest.fixture
def lease(district, officer):
    return make_lease(district, officer, starts_on=rent.month_of(today()))


def test_an_officer_opens_a_case_from_the_lease_page(app, officer, lease):
    browser = staff_browser(app, officer)
    page = page_text(browser.get(f"/staff/tenancy/leases/{lease.id}"))
    assert "Open an exit case" in page
    resp = browser.post_form(
        f"/staff/tenancy/leases/{lease.id}/exit", {"reason": "sublet", "facts": " "}
    )
    assert resp.status_code == 422
    assert exits.open_case_of(lease) is None
    resp = browser.post_form(
        f"/staff/tenancy/leases/{lease.id}/exit", {"reason": "sublet", "facts": FACTS}
    )
    assert resp.status_code == 302
    case = exits.open_case_of(lease)
    assert resp.headers["Location"].endswith(f"/staff/tenancy/exits/{case.id}")
    page = page_text(browser.get(f"/staff/tenancy/exits/{case.id}"))
    assert case.reference in page
    assert FACTS in page
    assert "Check the home out" in page
    assert "Cancel the case" in page


def test_the_queue_puts_overdue_cases_first(app, district, officer):
    first, second = make_lease(district, officer), make_lease(district, officer)
    moving = exits.open_case(first, ExitReason.SUBLET, officer, facts=FACTS)
    late = exits.open_case(second, ExitReason.DAMAGE, officer, facts=FACTS)
    late.status = ExitStatus.OVERDUE
    late.move_out_by = today() - timedelta(days=3)
    browser = staff_browser(app, officer)
    page = page_text(browser.get("/staff/tenancy/exits"))
    assert page.index(late.reference) < page.index(moving.reference)
    assert "Not vacated after the moving period" in page
    closed_only = page_text(browser.get("/staff/tenancy/exits?status=closed"))
    assert late.reference not in closed_only


def test_check_out_settle_on_the_case_page(app, officer, lease):
    case = exits.open_case(lease, ExitReason.OTHER_HOUSING, officer, facts="已购买住房")
    browser = staff_browser(app, officer)
    url = f"/staff/tenancy/exits/{case.id}"
    resp = browser.post_form(
        f"{url}/check-out",
        {
            "on": (today() + timedelta(days=1)).isoformat(),
            "condition_note": "墙面完好",
            "keys_returned": "y",
            "damages": "50",
        },
    )
    assert resp.status_code == 422
    page = page_text(resp)
    assert "cannot be in the future" in page
    assert "墙面完好" in page
    assert lease.status is LeaseStatus.ACTIVE

    resp = browser.post_form(
        f"{url}/check-out",
        {
            "on": today().isoformat(),
            "condition_note": "墙面完好",
            "keys_returned": "y",
            "damages": "50",
        },
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert case.status is ExitStatus.CHECKED_OUT
    assert lease.status is LeaseStatus.ENDED
    assert lease.unit.status is UnitStatus.VACANT
    page = page_text(browser.get(url))
    assert "Deposit settlement" in page
    assert "To refund" in page
    resp = browser.post_form(f"{url}/settle", {"note": "退至原账户"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert case.status is ExitStatus.CLOSED
    assert "Settled on" in page_text(browser.get(url))
    assert browser.post_form(f"{url}/cancel", {"reason": "太晚了"}).status_code == 409


def test_cancel_on_the_case_page(app, officer, lease):
    case = exits.open_case(lease, ExitReason.ARREARS, "system", facts="欠租六个月")
    browser = staff_browser(app, officer)
    resp = browser.post_form(f"/staff/tenancy/exits/{case.id}/cancel", {"reason": ""})
    assert resp.status_code == 422
    resp = browser.post_form(f"/staff/tenancy/exits/{case.id}/cancel", {"reason": "欠租已结清"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert case.status is ExitStatus.CANCELLED


def test_another_districts_officer_gets_404_on_a_case(app, officer, lease):
    case = exits.open_case(lease, ExitReason.SUBLET, officer, facts=FACTS)
    stranger = staff_browser(app, make_staff(Role.OFFICER, districts=[DistrictFactory()]))
    assert stranger.get(f"/staff/tenancy/exits/{case.id}").status_code == 404
    resp = stranger.post_form(f"/staff/tenancy/exits/{case.id}/cancel", {"reason": "不相干"})
    assert resp.status_code == 404
    assert case.status is ExitStatus.MOVING
    assert case.reference not in page_text(stranger.get("/staff/tenancy/exits"))


def test_the_household_gives_notice_and_follows_its_case(app, officer, lease):
    browser = resident_browser(app, lease.tenant)
    resp = browser.post_form(
        "/my/home/notice",
        {"leave_on": (today() + timedelta(days=400)).isoformat(), "understood": "y"},
    )
    assert resp.status_code == 422
    assert exits.open_case_of(lease) is None
    resp = browser.post_form(
        "/my/home/notice",
        {"leave_on": (today() + timedelta(days=20)).isoformat(), "note": "搬家"},
    )
    assert resp.status_code == 422  # the box is not ticked
    resp = browser.post_form(
        "/my/home/notice",
        {
            "leave_on": (today() + timedelta(days=20)).isoformat(),
            "note": "搬去子女家",
            "understood": "y",
        },
    )
    assert resp.status_code == 302
    case = exits.open_case_of(lease)
    assert case.reason is ExitReason.VOLUNTARY
    page = page_text(browser.get("/my/home"))
    assert case.reference in page
    assert "Leaving the home" in page
    assert "Please move out by" in page
    assert "Give notice to leave" not in page

    exits.check_out(
        case, officer, on=today(), condition_note="完好", keys_returned=True, damages="0"
    )
    exits.settle(case, officer)
    page = page_text(browser.get("/my/home"))
    assert "Deposit settlement" in page
    assert "To refund" in page
    assert lease.reference in page  # the ended lease is still shown


def test_a_resident_without_a_lease_cannot_give_notice(app):
    browser = resident_browser(app, ResidentFactory())
    resp = browser.post_form(
        "/my/home/notice", {"leave_on": today().isoformat(), "understood": "y"}
    )
    assert resp.status_code == 302


def test_the_settlement_shows_what_is_owed(app, district, officer):
    lease = make_lease(district, officer, starts_on=rent.add_months(rent.month_of(today()), -4))
    rent.charge_rent()
    case = exits.open_case(lease, ExitReason.ARREARS, "system", facts="欠租")
    exits.check_out(
        case, officer, on=today(), condition_note="完好", keys_returned=True, damages="0"
    )
    assert case.settlement < 0
    page = page_text(staff_browser(app, officer).get(f"/staff/tenancy/exits/{case.id}"))
    assert "Still owed" in page
    assert f"{-case.settlement} yuan" in page
    assert isinstance(case.settlement, Decimal)

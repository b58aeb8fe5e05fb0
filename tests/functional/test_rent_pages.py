"""The rent pages: officers find leases (by reference, in arrears), read a lease's ledger,
record a counter payment (errors keep what was typed), import the bank's file, see the
arrears list; another district's officer gets 404; residents see their home's rent,
ledger, payments and deposit."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.extensions import db
from portal.tenancy import rent
from portal.tenancy.models import PaymentSource, RentPayment
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, page_text, resident_browser, staff_browser
from tests.factories.tenancy import make_lease


def months_ago(n: int):
    return rent.add_months(rent.month_of(today()), -n)


@pytest.fixture
def owing(district, officer):
    """A lease three months old, nothing paid: at least two months overdue."""
    lease = make_lease(district, officer, starts_on=months_ago(3))
    rent.charge_rent()
    return lease


def test_the_leases_list_finds_by_reference_and_arrears(app, district, officer, owing):
    paid_up = make_lease(district, officer)
    rent.record_payment(paid_up, officer, amount="500", paid_on=today())
    browser = staff_browser(app, officer)
    page = page_text(browser.get("/staff/tenancy/"))
    assert owing.reference in page
    assert paid_up.reference in page
    page = page_text(browser.get("/staff/tenancy/?arrears=y"))
    assert owing.reference in page
    assert paid_up.reference not in page
    page = page_text(browser.get(f"/staff/tenancy/?q={paid_up.reference.lower()}"))
    assert paid_up.reference in page
    assert owing.reference not in page


def test_the_lease_page_shows_the_ledger_and_records_a_payment(app, district, officer, owing):
    browser = staff_browser(app, officer)
    page = page_text(browser.get(f"/staff/tenancy/leases/{owing.id}"))
    assert owing.reference in page
    assert months_ago(3).strftime("%Y-%m") in page
    assert "Overdue" in page
    assert "Deposit held" in page
    assert "1000.00 yuan" in page  # deposit and market rent

    resp = browser.post_form(
        f"/staff/tenancy/leases/{owing.id}/payments",
        {"amount": "12.345", "paid_on": today().isoformat(), "note": "收据 0001"},
    )
    assert resp.status_code == 422
    page = page_text(resp)
    assert "at most two decimal places" in page
    assert 'value="12.345"' in page
    assert "收据 0001" in page
    assert rent.payments_of(owing) == []

    resp = browser.post_form(
        f"/staff/tenancy/leases/{owing.id}/payments",
        {"amount": "700", "paid_on": today().isoformat(), "note": "收据 0001"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    (payment,) = rent.payments_of(owing)
    assert (payment.amount, payment.source, payment.recorded_by_id) == (
        Decimal("700.00"),
        PaymentSource.COUNTER,
        officer.id,
    )
    oldest = min(rent.charges_of(owing), key=lambda c: c.month)
    assert oldest.paid == oldest.amount


def test_another_districts_officer_gets_404(app, owing):
    stranger = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    browser = staff_browser(app, stranger)
    assert browser.get(f"/staff/tenancy/leases/{owing.id}").status_code == 404
    resp = browser.post_form(
        f"/staff/tenancy/leases/{owing.id}/payments",
        {"amount": "10", "paid_on": today().isoformat()},
    )
    assert resp.status_code == 404
    assert rent.payments_of(owing) == []
    assert owing.reference not in page_text(browser.get("/staff/tenancy/"))
    assert owing.reference not in page_text(browser.get("/staff/tenancy/arrears"))
    denied = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "access.out_of_scope")
    ).all()
    assert any(e.object_type == "leases" for e in denied)
    manager = staff_browser(app, make_staff(Role.MANAGER))
    assert manager.get(f"/staff/tenancy/leases/{owing.id}").status_code == 200


def test_residents_may_not_use_the_staff_pages(app, owing):
    browser = resident_browser(app, owing.tenant)
    assert browser.get("/staff/tenancy/").status_code == 403
    assert browser.get(f"/staff/tenancy/leases/{owing.id}").status_code == 403


def test_the_arrears_list(app, officer, owing):
    rent.remind_arrears()
    page = page_text(staff_browser(app, officer).get("/staff/tenancy/arrears"))
    assert owing.reference in page
    assert rent.arrears_of(owing).amount.to_eng_string() in page
    assert today().strftime("%Y") in page


def test_the_bank_file_page_imports_and_lists_problems(app, district, officer, owing):
    browser = staff_browser(app, officer)
    assert browser.get("/staff/tenancy/import").status_code == 200
    template = browser.get("/staff/tenancy/import/template.csv")
    assert template.mimetype == "text/csv"
    assert "lease_reference" in template.get_data(as_text=True)

    day = today().isoformat()
    bad = f"lease_reference,amount,paid_on,transaction_id\n{owing.reference},abc,{day},T-1\n"
    resp = browser.post_form(
        "/staff/tenancy/import",
        {"file": (io.BytesIO(bad.encode()), "bank.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    page = page_text(resp)
    assert "Nothing was imported" in page
    assert "must be a number of yuan" in page

    good = f"租约编号,金额,缴费日期,银行流水号\n{owing.reference},300.00,{day},T-1\n"
    resp = browser.post_form(
        "/staff/tenancy/import",
        {"file": (io.BytesIO(good.encode()), "bank.csv"), "check_only": "y"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    assert "The file is correct" in page_text(resp)
    assert rent.payments_of(owing) == []
    resp = browser.post_form(
        "/staff/tenancy/import",
        {"file": (io.BytesIO(good.encode()), "bank.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    assert "Imported" in page_text(resp)
    (payment,) = rent.payments_of(owing)
    assert (payment.bank_reference, payment.amount) == ("T-1", Decimal("300.00"))
    resp = browser.post_form(
        "/staff/tenancy/import",
        {"file": (io.BytesIO(good.encode()), "bank.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert "already imported" in page_text(resp)
    resp = browser.post_form("/staff/tenancy/import", {}, content_type="multipart/form-data")
    assert resp.status_code == 422


def test_the_resident_sees_the_rent_of_their_home(app, officer, owing):
    rent.record_payment(owing, officer, amount="100", paid_on=today())
    browser = resident_browser(app, owing.tenant)
    page = page_text(browser.get("/my/home"))
    assert owing.reference in page
    assert "This month's rent" in page
    assert "What you owe" in page
    assert "Paid at the counter" in page
    assert "1000.00 yuan" in page  # deposit
    assert months_ago(3).strftime("%Y-%m") in page
    assert "Give notice to leave" in page
    assert re.search(r"<table>\s*<caption>", page)
    assert 'tabindex="0"' in page

    stranger = resident_browser(app, ResidentFactory())
    page = page_text(stranger.get("/my/home"))
    assert "no lease in force" in page
    assert owing.reference not in page


def test_links_to_the_pages(app, officer, owing):
    workbench = page_text(staff_browser(app, officer).get("/staff/"))
    assert "/staff/tenancy/" in workbench
    assert "/staff/tenancy/exits" in workbench
    dashboard = page_text(resident_browser(app, owing.tenant).get("/me"))
    assert "/my/home" in dashboard
    lease_page = page_text(resident_browser(app, owing.tenant).get("/my/rounds/lease"))
    assert "/my/home" in lease_page


def test_a_bank_payment_shows_its_transaction(app, officer, owing):
    db.session.add(
        RentPayment(
            lease_id=owing.id,
            amount=Decimal("5.00"),
            paid_on=today() - timedelta(days=1),
            source=PaymentSource.BANK,
            bank_reference="ICBC-XYZ",
        )
    )
    db.session.flush()
    page = page_text(staff_browser(app, officer).get(f"/staff/tenancy/leases/{owing.id}"))
    assert "ICBC-XYZ" in page
    assert "Bank collection file" in page

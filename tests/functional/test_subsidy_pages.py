"""Subsidy pages: a month computed, corrected, computed again and closed in the browser
with a reconciled ledger and its bank file; the resident's page with the explanation and
the rent and account form."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.exports.models import Export
from portal.extensions import db
from portal.subsidy import services
from portal.subsidy.models import AwardStatus, RunStatus, SubsidyBasis
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import sign_in
from tests.factories.subsidy import award

D = Decimal
MONTH = date_month = today().replace(day=1)
KEY = MONTH.strftime("%Y-%m")


def text_of(resp) -> str:
    return resp.get_data(as_text=True)


def test_a_month_is_computed_corrected_computed_again_and_closed(staff_client, district):
    officer_client, _officer = staff_client(Role.OFFICER, districts=[district], locale="en")
    first_client, _first = staff_client(Role.MANAGER, locale="en")
    second_client, _second = staff_client(Role.MANAGER, locale="en")
    awards = [award(district, size=2, income="1000") for _ in range(3)]

    page = text_of(officer_client.get("/staff/subsidy/"))
    assert "Next month to compute" in page

    resp = officer_client.post_form("/staff/subsidy/runs", {"month": KEY})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/staff/subsidy/runs/{KEY}")
    page = text_of(officer_client.get(f"/staff/subsidy/runs/{KEY}"))
    assert "1620.00 yuan" in page  # 3 × 540
    assert page.count("Agrees") == len(services.CHECKS)
    assert "Differs" not in page

    # a correction on the award page, then the month again
    resp = officer_client.post_form(
        f"/staff/subsidy/awards/{awards[0].id}/change",
        {
            "household_size": "2",
            "per_capita_income": "2600",
            "own_area": "0",
            "occurred_on": (
                MONTH.replace(day=1) - __import__("datetime").timedelta(days=1)
            ).isoformat(),
            "note": "Income certificate seen",
        },
    )
    assert resp.status_code == 302, text_of(resp)
    page = text_of(officer_client.get(f"/staff/subsidy/runs/{KEY}"))
    assert "compute it again before it is closed" in page
    resp = first_client.post_form(f"/staff/subsidy/runs/{KEY}/compute", {"month": KEY})
    assert resp.status_code == 302
    page = text_of(first_client.get(f"/staff/subsidy/runs/{KEY}"))
    assert "1 households changed" in page
    assert "1500.00 yuan" in page  # 540 + 540 + 420
    assert awards[0].reference in page

    # the same facts again: unchanged
    resp = first_client.post_form(f"/staff/subsidy/runs/{KEY}/compute", {"month": KEY})
    flashed = text_of(first_client.get(f"/staff/subsidy/runs/{KEY}"))
    assert "unchanged" in flashed

    # four eyes
    assert first_client.post_form(f"/staff/subsidy/runs/{KEY}/close").status_code == 409
    assert officer_client.post_form(f"/staff/subsidy/runs/{KEY}/close").status_code == 403
    resp = second_client.post_form(f"/staff/subsidy/runs/{KEY}/close")
    assert resp.status_code == 302
    db.session.expire_all()
    run = services.run_of(MONTH)
    assert run.status is RunStatus.CLOSED

    # a closed month is never computed again
    resp = officer_client.post_form(f"/staff/subsidy/runs/{KEY}/compute", {"month": KEY})
    assert resp.status_code == 409
    assert "never computed again" in text_of(resp)

    # the bank file, CSV and XLSX: every household, whole account numbers, total = to the banks
    resp = second_client.post_form(f"/staff/subsidy/runs/{KEY}/bank-file", {"format": "csv"})
    assert resp.status_code == 302
    export_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    data = second_client.get(f"/exports/{export_id}/download").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data)))
    assert rows[0] == [
        "Award reference",
        "Account holder",
        "Bank",
        "Account number",
        "Amount (yuan)",
        "Month",
    ]
    assert sorted(r[0] for r in rows[1:]) == sorted(a.reference for a in awards)
    assert {r[3] for r in rows[1:]} == {a.bank_account for a in awards}
    assert sum(D(r[4]) for r in rows[1:]) == run.to_bank == D("1500.00")
    assert {r[5] for r in rows[1:]} == {KEY}

    resp = second_client.post_form(f"/staff/subsidy/runs/{KEY}/bank-file", {"format": "xlsx"})
    export_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    book = second_client.get(f"/exports/{export_id}/download").get_data()
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(book)).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 4
    assert sum(D(str(v[4])) for v in values[1:]) == D("1500.00")
    assert zipfile.is_zipfile(io.BytesIO(book))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Export)) == 2


def test_the_bank_file_waits_for_the_close(staff_client, district):
    client, user = staff_client(Role.MANAGER, locale="en")
    award(district)
    services.compute_month(MONTH, user)
    resp = client.post_form(f"/staff/subsidy/runs/{KEY}/bank-file", {"format": "csv"})
    assert resp.status_code == 409
    assert "once the month is closed" in text_of(resp)


def test_an_officer_sees_only_their_districts_awards(staff_client, district):
    client, _officer = staff_client(Role.OFFICER, districts=[district], locale="en")
    mine, other = award(district), award(DistrictFactory())
    page = text_of(client.get("/staff/subsidy/awards"))
    assert mine.reference in page
    assert other.reference not in page
    assert client.get(f"/staff/subsidy/awards/{mine.id}").status_code == 200
    assert client.get(f"/staff/subsidy/awards/{other.id}").status_code == 404
    found = text_of(client.get("/staff/subsidy/awards", query_string={"q": mine.reference}))
    assert mine.reference in found


def test_forms_on_the_award_page_keep_what_was_typed(staff_client, district):
    client, _officer = staff_client(Role.OFFICER, districts=[district], locale="en")
    a = award(district, details=False)
    resp = client.post_form(
        f"/staff/subsidy/awards/{a.id}/details",
        {
            "actual_rent": "1200",
            "payee_name": "Somebody Else",
            "bank_name": "工商银行",
            "bank_account": "6222 0200 1234 5678",
        },
    )
    assert resp.status_code == 422
    page = text_of(resp)
    assert "member of the household" in page
    assert 'value="工商银行"' in page
    resp = client.post_form(
        f"/staff/subsidy/awards/{a.id}/veteran",
        {"veteran-veteran": "yes", "veteran-reason": "优抚证 No. 4501"},
    )
    assert resp.status_code == 302
    db.session.refresh(a)
    assert a.veteran is True


def test_the_resident_gives_rent_and_account_and_reads_why(client, district):
    resident = ResidentFactory(locale="en")
    a = award(district, resident=resident, details=False, size=3, income="1700")
    assert sign_in(client, resident.mobile).status_code == 302
    page = text_of(client.get("/my/subsidy"))
    assert "give the rent you pay" in page
    # a wrong account: the form comes back with what was typed
    resp = client.post_form(
        "/my/subsidy/details",
        {
            "actual_rent": "650.50",
            "payee_name": resident.real_name,
            "bank_name": "中国建设银行桂林分行",
            "bank_account": "12ab",
        },
    )
    assert resp.status_code == 422
    assert 'value="650.50"' in text_of(resp)
    resp = client.post_form(
        "/my/subsidy/details",
        {
            "actual_rent": "650.50",
            "payee_name": resident.real_name,
            "bank_name": "中国建设银行桂林分行",
            "bank_account": "6217 0000 1234 5678 901",
        },
    )
    assert resp.status_code == 302
    db.session.refresh(a)
    assert a.status is AwardStatus.ACTIVE
    page = text_of(client.get("/my/subsidy"))
    assert "6217000012345678901" not in page  # masked once saved
    assert "6217***********8901" in page
    # next month: tier 2, 45 m², capped at the rent paid
    assert "above 1693.00 and not above 2540.00 yuan" in page
    assert "The area standard for a household of 3 persons is 45.00 m²" in page
    assert "650.50 yuan" in page
    rent = db.session.scalars(
        sa.select(SubsidyBasis.actual_rent).where(SubsidyBasis.award_id == a.id)
    ).all()
    assert D("650.50") in rent


def test_the_resident_sees_the_months_paid(client, district, db):
    from tests.factories.fixtures import make_staff

    resident = ResidentFactory(locale="en")
    award(district, resident=resident, size=1, income="1000", rent="2000")
    services.compute_month(MONTH, make_staff(Role.OFFICER, districts=[district]))
    sign_in(client, resident.mobile)
    page = text_of(client.get("/my/subsidy"))
    assert "360.00 yuan" in page  # 18 × 20
    assert "Provisional" in page
    assert re.search(r"The area standard for one person is 20.00 m²", page)


def test_a_resident_without_a_subsidy(client):
    resident = ResidentFactory(locale="en")
    sign_in(client, resident.mobile)
    assert "has no rental subsidy" in text_of(client.get("/my/subsidy"))
    assert client.post_form("/my/subsidy/details", {"actual_rent": "1"}).status_code == 404


def test_workbench_and_dashboard_link_to_the_subsidy(staff_client, client, district):
    officer_client, _ = staff_client(Role.OFFICER, districts=[district], locale="en")
    assert "/staff/subsidy/" in text_of(officer_client.get("/staff/"))
    resident = ResidentFactory(locale="en")
    award(district, resident=resident)
    sign_in(client, resident.mobile)
    assert "/my/subsidy" in text_of(client.get("/me"))

"""The housing stock pages: officers keep their districts' estates, managers see the city's."""

from __future__ import annotations

import csv
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
from portal.housing.models import Building, Estate, Unit, UnitStatus
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff, sign_in_staff
from tests.factories.housing import BuildingFactory, EstateFactory, UnitFactory


@pytest.fixture
def district():
    return DistrictFactory(code="450302", name_en="Xiufeng District")


@pytest.fixture
def elsewhere():
    return DistrictFactory(code="450311", name_en="Yanshan District")


def browser(app, user):
    c = app.test_client()
    c.set_cookie("locale", "en", domain="portal.test")
    sign_in_staff(c, user)
    return c


@pytest.fixture
def officer_browser(app, officer):
    return browser(app, officer)


def text(resp) -> str:
    return re.sub(r"\s+", " ", resp.get_data(as_text=True))


def fresh(obj):
    """The object as the database holds it now (each request works in its own session)."""
    db.session.refresh(obj)
    return obj


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- who sees what ------------------------------------------------------------------------


def test_officer_sees_only_estates_of_their_districts(officer_browser, district, elsewhere):
    mine = EstateFactory(district=district, name="丽泽苑")
    UnitFactory(estate=mine)
    UnitFactory(estate=mine, status=UnitStatus.OCCUPIED)
    EstateFactory(district=elsewhere, name="雁山小区")
    resp = officer_browser.get("/staff/housing/")
    assert resp.status_code == 200
    page = text(resp)
    assert "丽泽苑" in page
    assert "雁山小区" not in page
    assert "<caption>Estates and their units</caption>" in page


@pytest.mark.parametrize("role", [Role.OFFICER, Role.MANAGER])
@pytest.mark.parametrize("locale", ["en", "zh_Hans_CN"])
def test_every_page_renders(app, district, role, locale):
    user = make_staff(role, districts=[district]) if role is Role.OFFICER else make_staff(role)
    c = browser(app, user)
    c.set_cookie("locale", locale, domain="portal.test")
    unit = UnitFactory(district=district, vacated_on=today() - timedelta(days=400))
    empty = EstateFactory(district=district)
    for url in (
        "/staff/housing/",
        "/staff/housing/estates/new",
        f"/staff/housing/estates/{unit.estate_id}",
        f"/staff/housing/estates/{unit.estate_id}?status=vacant&building={unit.building_id}",
        f"/staff/housing/estates/{empty.id}",
        f"/staff/housing/estates/{unit.estate_id}/edit",
        f"/staff/housing/estates/{unit.estate_id}/units/new",
        f"/staff/housing/units/{unit.id}",
        "/staff/housing/import",
        "/staff/housing/not-relet",
    ):
        resp = c.get(url)
        assert resp.status_code == 200, url
        assert "<script>" not in resp.get_data(as_text=True)
    page = text(c.get(f"/staff/housing/estates/{unit.estate_id}/edit"))
    assert f'value="{unit.estate.code}"' in page
    assert '<option selected value="450302">' in page
    # an estate without buildings sends the officer to add one first
    resp = c.get(f"/staff/housing/estates/{empty.id}/units/new")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/staff/housing/estates/{empty.id}")
    assert "/units/new" not in text(c.get(f"/staff/housing/estates/{empty.id}"))


def test_other_districts_estates_and_units_answer_404(officer_browser, elsewhere):
    foreign = UnitFactory(district=elsewhere)
    for url in (
        f"/staff/housing/estates/{foreign.estate_id}",
        f"/staff/housing/estates/{foreign.estate_id}/edit",
        f"/staff/housing/estates/{foreign.estate_id}/units/new",
        f"/staff/housing/units/{foreign.id}",
    ):
        assert officer_browser.get(url).status_code == 404, url
    resp = officer_browser.post_form(f"/staff/housing/units/{foreign.id}/repair")
    assert resp.status_code == 404
    resp = officer_browser.post_form(
        f"/staff/housing/estates/{foreign.estate_id}/buildings", {"building": "9栋"}
    )
    assert resp.status_code == 404
    assert fresh(foreign).status is UnitStatus.VACANT
    assert count(Building) == 1
    denied = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "access.out_of_scope")
    )
    assert denied == 6


def test_manager_sees_every_district(app, district, elsewhere):
    EstateFactory(district=district, name="丽泽苑")
    far = UnitFactory(district=elsewhere)
    c = browser(app, make_staff(Role.MANAGER))
    page = text(c.get("/staff/housing/"))
    assert "丽泽苑" in page
    assert far.estate.name in page
    assert c.get(f"/staff/housing/units/{far.id}").status_code == 200
    # the district filter narrows the list
    page = text(c.get("/staff/housing/?district=450302"))
    assert "丽泽苑" in page
    assert far.estate.name not in page


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.AUDITOR, Role.ADMIN])
def test_other_staff_may_not_see_the_stock(app, role):
    c = browser(app, make_staff(role))
    assert c.get("/staff/housing/").status_code == 403
    assert c.get("/staff/housing/import").status_code == 403


def test_residents_may_not_see_the_stock(resident_client):
    assert resident_client.get("/staff/housing/").status_code == 403


# --- estates, buildings and units through the forms --------------------------------------


def test_officer_adds_an_estate_a_building_and_a_unit(officer_browser, district):
    page = text(officer_browser.get("/staff/housing/estates/new"))
    assert 'value="450302"' in page
    resp = officer_browser.post_form(
        "/staff/housing/estates/new",
        {
            "code": "gl-xf-009",
            "name": "甲山安居小区",
            "district": "450302",
            "address": "桂林市秀峰区甲山路18号",
            "programme": "public_rental",
            "market_rent": "20.50",
        },
    )
    assert resp.status_code == 302, text(resp)
    estate = db.session.scalar(sa.select(Estate).where(Estate.code == "GL-XF-009"))
    assert estate.market_rent == Decimal("20.50")
    resp = officer_browser.post_form(
        f"/staff/housing/estates/{estate.id}/buildings", {"building": "1栋"}
    )
    assert resp.status_code == 302
    building = db.session.scalar(sa.select(Building).where(Building.estate_id == estate.id))
    assert f"building={building.id}" in resp.headers["Location"]
    form = text(officer_browser.get(resp.headers["Location"]))
    assert f'<option selected value="{building.id}">' in form
    resp = officer_browser.post_form(
        f"/staff/housing/estates/{estate.id}/units/new",
        {
            "building": str(building.id),
            "number": "1-0101",
            "floor": "1",
            "area": "32.40",
            "rooms": "1",
            "accessible": "y",
            "rent": "330.50",
        },
    )
    assert resp.status_code == 302
    unit = db.session.scalar(sa.select(Unit))
    assert (unit.area, unit.rent, unit.accessible) == (Decimal("32.40"), Decimal("330.50"), True)
    page = text(officer_browser.get(f"/staff/housing/estates/{estate.id}"))
    assert "1-0101" in page
    assert "32.40" in page


def test_a_wrong_unit_shows_each_problem_beside_its_field(officer_browser, district):
    building = BuildingFactory(district=district)
    resp = officer_browser.post_form(
        f"/staff/housing/estates/{building.estate_id}/units/new",
        {
            "building": str(building.id),
            "number": "1-0101",
            "floor": "1",
            "area": "250",
            "rooms": "9",
            "rent": "300",
        },
    )
    assert resp.status_code == 422
    page = text(resp)
    assert "at most 200 m²" in page
    assert "from 1 to 6" in page
    assert 'id="area-error"' in page
    assert 'id="rooms-error"' in page
    assert count(Unit) == 0


def test_a_unit_number_twice_in_a_building_is_a_conflict(officer_browser, district):
    unit = UnitFactory(district=district, number="1-0101")
    resp = officer_browser.post_form(
        f"/staff/housing/estates/{unit.estate_id}/units/new",
        {
            "building": str(unit.building_id),
            "number": "1-0101",
            "floor": "1",
            "area": "40",
            "rooms": "2",
            "rent": "400",
        },
    )
    assert resp.status_code == 409
    assert "already has a unit numbered 1-0101" in text(resp)


def test_edit_a_unit_and_its_locked_figures(officer_browser, district):
    unit = UnitFactory(district=district, status=UnitStatus.IN_ROUND)
    page = text(officer_browser.get(f"/staff/housing/units/{unit.id}"))
    assert 'value="45.50"' in page
    assert "cannot change" in page
    data = {
        "building": str(unit.building_id),
        "number": unit.number,
        "floor": "4",
        "area": "48",
        "rooms": "2",
        "rent": "500.50",
    }
    resp = officer_browser.post_form(f"/staff/housing/units/{unit.id}", data)
    assert resp.status_code == 409
    assert fresh(unit).area == Decimal("45.50")
    resp = officer_browser.post_form(f"/staff/housing/units/{unit.id}", {**data, "area": "45.5"})
    assert resp.status_code == 302
    assert fresh(unit).floor == 4


def test_mark_under_repair_and_back(officer_browser, district):
    unit = UnitFactory(district=district)
    resp = officer_browser.post_form(f"/staff/housing/units/{unit.id}/repair")
    assert resp.status_code == 302
    assert fresh(unit).status is UnitStatus.MAINTENANCE
    page = text(officer_browser.get(f"/staff/housing/estates/{unit.estate_id}?status=maintenance"))
    assert unit.number in page
    page = text(officer_browser.get(f"/staff/housing/estates/{unit.estate_id}?status=vacant"))
    assert unit.number not in page
    resp = officer_browser.post_form(f"/staff/housing/units/{unit.id}/repaired")
    assert resp.status_code == 302
    assert fresh(unit).status is UnitStatus.VACANT


def test_a_let_unit_cannot_go_under_repair(officer_browser, district):
    unit = UnitFactory(district=district, status=UnitStatus.OCCUPIED)
    resp = officer_browser.post_form(f"/staff/housing/units/{unit.id}/repair")
    assert resp.status_code == 409
    assert "only when it is Vacant" in text(resp)
    assert fresh(unit).status is UnitStatus.OCCUPIED


def test_state_changes_need_the_csrf_token(officer_browser, district):
    unit = UnitFactory(district=district)
    resp = officer_browser.post(f"/staff/housing/units/{unit.id}/repair")
    assert resp.status_code == 400
    assert fresh(unit).status is UnitStatus.VACANT


# --- import -------------------------------------------------------------------------------

GOOD = (
    "estate_code,estate_name,district_code,address,building,unit_number,floor,area,rooms,rent\n"
    "GL-XF-001,丽泽苑,450302,桂林市秀峰区丽君路32号,1栋,1-0101,1,45.50,2,455\n"
    "GL-XF-001,丽泽苑,450302,桂林市秀峰区丽君路32号,1栋,1-0102,1,38.00,1,380\n"
)


def upload(client, content: bytes, name: str):
    return client.post_form(
        "/staff/housing/import",
        {"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_import_page_shows_the_counts(officer_browser, district):
    assert officer_browser.get("/staff/housing/import").status_code == 200
    resp = upload(officer_browser, GOOD.encode("utf-8-sig"), "stock.csv")
    assert resp.status_code == 200, text(resp)
    page = text(resp)
    assert "Imported 2 rows: 2 units created, 0 updated." in page
    assert count(Unit) == 2


def test_import_page_lists_every_problem_and_writes_nothing(officer_browser, district):
    bad = GOOD.replace("45.50", "0").replace(",1,380", ",7,380")
    resp = upload(officer_browser, bad.encode(), "stock.csv")
    assert resp.status_code == 422
    page = text(resp)
    assert "Nothing was imported" in page
    assert '<th scope="row">2</th> <td>area</td>' in page
    assert '<th scope="row">3</th> <td>rooms</td>' in page
    assert count(Unit) == 0
    assert count(Estate) == 0


def test_import_rows_of_another_district_are_refused(officer_browser, district, elsewhere):
    resp = upload(officer_browser, GOOD.replace("450302", "450311").encode(), "stock.csv")
    assert resp.status_code == 422
    assert "your own districts only" in text(resp)
    assert count(Unit) == 0


def test_import_without_a_file_or_with_a_wrong_one(officer_browser, district):
    resp = officer_browser.post_form("/staff/housing/import", {})
    assert resp.status_code == 422
    assert "Choose a file" in text(resp)
    resp = upload(officer_browser, b"%PDF-1.7 not a sheet", "stock.xls")
    assert resp.status_code == 422
    assert "CSV or XLSX" in text(resp)


def test_template_download(officer_browser):
    resp = officer_browser.get("/staff/housing/import/template.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["estate_code", "estate_name", "district_code"]
    assert len(rows) == 2


# --- vacancies not re-let -----------------------------------------------------------------


def test_not_relet_report_and_its_spreadsheet(officer_browser, district, elsewhere):
    estate = EstateFactory(district=district, name="=HYPERLINK(1)")
    old = UnitFactory(estate=estate, number="OLD-1", vacated_on=today() - timedelta(days=400))
    UnitFactory(estate=estate, number="NEW-1", vacated_on=today() - timedelta(days=100))
    UnitFactory(district=elsewhere, number="FAR-1", vacated_on=today() - timedelta(days=500))
    page = text(officer_browser.get("/staff/housing/not-relet"))
    assert "OLD-1" in page
    assert '<td data-label="Days vacant">400</td>' in page
    assert "NEW-1" not in page
    assert "FAR-1" not in page
    resp = officer_browser.get("/staff/housing/not-relet.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "no-store" in resp.headers["Cache-Control"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 2
    assert rows[1][1] == "'=HYPERLINK(1)"  # inert in a spreadsheet
    assert rows[1][4] == old.number
    assert rows[1][-1] == "400"
    page = text(officer_browser.get(f"/staff/housing/estates/{estate.id}?status=not_relet"))
    assert "OLD-1" in page
    assert "NEW-1" not in page


def test_estate_list_counts_the_units(officer_browser, district):
    estate = EstateFactory(district=district)
    UnitFactory(estate=estate)
    UnitFactory(estate=estate, status=UnitStatus.OCCUPIED)
    UnitFactory(estate=estate, vacated_on=today() - timedelta(days=400))
    page = text(officer_browser.get("/staff/housing/"))
    assert '<td data-label="Vacant"><a href' in page
    assert 'status=not_relet" class="overdue">1</a>' in page
    assert '<td data-label="All units">3</td>' in page

"""The public information pages (no sign-in): the programme guide with the rule numbers in
force, the eligibility self-check, the housing listings, the office contacts; and the
managers' pages that keep the contacts."""

from __future__ import annotations

import logging
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.settings import add_version
from portal.housing.models import UnitStatus
from portal.public import services
from portal.public.demo import load_demo_offices
from portal.public.models import Office
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import english, make_staff, page_text, staff_browser
from tests.factories.housing import BuildingFactory, EstateFactory, UnitFactory

PAGES = ("/programmes", "/self-check", "/housing", "/contacts")


def text(resp) -> str:
    """The page's main text, tags removed and spaces folded."""
    html = page_text(resp)
    html = html[html.index("<main") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def audit_count(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


# --- every page, both languages, large text -------------------------------------------------


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_pages_render_for_anyone_in_both_languages(client, locale):
    estate = EstateFactory()
    UnitFactory(estate=estate)
    load_demo_offices()
    client.set_cookie("locale", locale, domain="portal.test")
    lang = "zh-Hans" if locale.startswith("zh") else "en"
    for url in (*PAGES, f"/housing/{estate.code}"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        html = resp.get_data(as_text=True)
        assert f'<html lang="{lang}"' in html
        with force_locale(locale):
            assert gettext("Public Housing Service Portal") in html
        # wide tables scroll in a labelled region and have captions and headers
        assert html.count("<table") == html.count("<caption"), url
        assert html.count("<table") == html.count('class="table-wrap" tabindex="0" role="region"')


def test_the_main_navigation_links_the_public_pages(client):
    html = client.get("/").get_data(as_text=True)
    for url in ("/programmes", "/housing", "/contacts", "/self-check?for=public_rental"):
        assert f'href="{url}' in html


def test_large_text_mode_on_the_public_pages(client):
    client.set_cookie("care_mode", "1", domain="portal.test")
    for url in PAGES:
        assert 'class="care"' in client.get(url).get_data(as_text=True), url


# --- the programme guide ----------------------------------------------------------------------


def test_the_guide_shows_the_rule_numbers_in_force(client):
    page = english(client).get("/programmes")
    body = text(page)
    html = page.get_data(as_text=True)
    for anchor in ("public_rental", "rental_subsidy", "affordable_rental"):
        assert f'id="{anchor}"' in html
    assert "below 1549 yuan a month per person" in body
    assert "Less than 15 m² of housing" in body
    assert "at least 5 years, or at least 12 months of continuous local social insurance" in body
    assert "within 20 working days of your application" in body
    assert "published for 10 days" in body
    assert "invited households have 3 days to choose" in body
    assert "Income per person up to 1693 yuan a month 18" in body
    assert "1 person 35 m²" in body
    for link in ("/notices", "/rounds/", "/credit", "/contacts", "/self-check?for=rental_subsidy"):
        assert f'href="{link}' in html, link

    manager = make_staff(Role.MANAGER)
    add_version(
        manager, "eligibility", {"income_line": 1800, "decide_working_days": 15}, today(), "新标准"
    )
    add_version(manager, "waitlist", {"choose_days": 5}, today(), "新标准")
    body = text(client.get("/programmes"))
    assert "below 1800 yuan a month per person" in body
    assert "1549" not in body
    assert "within 15 working days of your application" in body
    assert "invited households have 5 days to choose" in body


def test_the_guide_shows_the_fixed_subsidy_table_when_it_is_in_force(client):
    add_version(
        make_staff(Role.MANAGER), "subsidy", {"mode_table": 1, "table_2": 480}, today(), "定额"
    )
    body = text(english(client).get("/programmes"))
    assert "Subsidy by household size" in body
    assert "2 persons 480" in body or "2 people 480" in body
    assert "Subsidy rates" not in body


# --- the self-check ---------------------------------------------------------------------------

QUALIFYING = {
    "programme": "public_rental",
    "household_size": "3",
    "monthly_income": "3000",
    "assistance": "none",
    "owned_area": "0",
    "hukou": "yes",
    "hukou_years": "6",
    "social_insurance_months": "",
}


def test_a_qualifying_household_reads_met_rule_by_rule(client, db, caplog):
    before = audit_count(db)
    caplog.set_level(logging.DEBUG)
    resp = english(client).get(
        "/self-check", query_string={**QUALIFYING, "monthly_income": "3012.34"}
    )
    assert resp.status_code == 200
    body = text(resp)
    assert "From your answers, your household may qualify." in body
    assert "Local household registration for 6 years (at least 5 needed)." in body
    assert "Income per person is ¥1004.11 a month, below the line of ¥1549." in body
    assert body.count("✓ Met") == 3
    assert body.count("? Cannot tell") == 2  # household and credit: the registers decide
    assert "not a decision" in body
    assert "A household of 3 persons may be offered a flat of up to 60 m²." in body
    # nothing stored, nothing of the answers logged
    assert audit_count(db) == before
    assert "3012.34" not in caplog.text
    # what was typed stays in the form
    assert 'value="3012.34"' in resp.get_data(as_text=True)


def test_a_failing_household_reads_why(client):
    resp = english(client).get(
        "/self-check",
        query_string={
            **QUALIFYING,
            "monthly_income": "9000",
            "owned_area": "60",
            "hukou": "no",
            "hukou_years": "",
            "social_insurance_months": "3",
        },
    )
    assert resp.status_code == 200
    body = text(resp)
    assert "does not meet every condition" in body
    assert "Income per person is ¥3000.00 a month, not below the line of ¥1549." in body
    assert "You own 20.00 m² per person; the limit is less than 15 m²." in body
    assert "3 months of local social insurance" in body
    assert body.count("✗ Not met") == 3


def test_a_subsidy_household_sees_an_estimate(client):
    resp = english(client).get(
        "/self-check",
        query_string={**QUALIFYING, "programme": "rental_subsidy", "owned_area": "10"},
    )
    body = text(resp)
    assert "Estimated subsidy: 630.00 yuan a month" in body


def test_the_programme_card_opens_the_self_check_for_it(client):
    html = client.get("/self-check?for=affordable_rental").get_data(as_text=True)
    assert re.search(
        r'value="affordable_rental"[^>]*checked|checked[^>]*value="affordable_rental"', html
    )
    assert "The conditions, one by one" not in html


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_bad_answers_are_refused_with_translated_messages(client, locale):
    client.set_cookie("locale", locale, domain="portal.test")
    resp = client.get(
        "/self-check",
        query_string={
            **QUALIFYING,
            "household_size": "three",
            "monthly_income": "-5",
            "owned_area": "1.234",
            "hukou_years": "999",
            "social_insurance_months": "12.5",
        },
    )
    assert resp.status_code == 422
    html = page_text(resp)
    with force_locale(locale):
        assert gettext("Enter a whole number, for example 3.") in html
        assert gettext("Enter a number from %(low)s to %(high)s.", low=0, high=9999999) in html
        assert gettext("Use at most two decimal places.") in html
        assert gettext("Enter a number from %(low)s to %(high)s.", low=0, high=100) in html
        assert gettext("Please correct the following") in html
    for typed in ('value="three"', 'value="-5"', 'value="1.234"', 'value="999"', 'value="12.5"'):
        assert typed in html
    assert "The conditions, one by one" not in html
    if locale == "en":
        assert "Not a valid" not in html  # WTForms' own messages are replaced


def test_years_of_registration_without_a_local_registration_are_refused(client):
    resp = english(client).get("/self-check", query_string={**QUALIFYING, "hukou": "no"})
    assert resp.status_code == 422
    assert "Leave the years empty when your household registration is not local." in page_text(resp)


def test_an_unknown_programme_is_refused(client):
    resp = english(client).get("/self-check", query_string={**QUALIFYING, "programme": "villa"})
    assert resp.status_code == 422
    assert "Choose one of the options." in page_text(resp)


# --- housing listings -------------------------------------------------------------------------


@pytest.fixture
def stock(db):
    """Two districts; an estate in each; units of several types and states."""
    west, east = DistrictFactory(name_en="West"), DistrictFactory(name_en="East")
    a = EstateFactory(district=west, name="甲小区", market_rent=Decimal("22.00"))
    b = EstateFactory(district=east, name="乙公寓", programme=Programme.AFFORDABLE_RENTAL)
    ba = BuildingFactory(estate=a)
    units = [
        UnitFactory(building=ba, rooms=1, area=Decimal("30.00"), rent=Decimal("300.00")),
        UnitFactory(
            building=ba,
            rooms=1,
            area=Decimal("34.50"),
            rent=Decimal("345.00"),
            status=UnitStatus.OCCUPIED,
            number="占用-0101",
        ),
        UnitFactory(
            building=ba, rooms=2, area=Decimal("45.00"), rent=Decimal("450.00"), accessible=True
        ),
        UnitFactory(
            building=ba,
            rooms=2,
            area=Decimal("52.00"),
            rent=Decimal("520.00"),
            status=UnitStatus.IN_ROUND,
        ),
        UnitFactory(
            building=ba,
            rooms=2,
            area=Decimal("50.00"),
            rent=Decimal("500.00"),
            status=UnitStatus.MAINTENANCE,
        ),
        UnitFactory(building=ba, rooms=3, area=Decimal("58.00"), rent=Decimal("600.00")),
    ]
    UnitFactory(estate=b, rooms=1, area=Decimal("28.00"), rent=Decimal("700.00"))
    return {"west": west, "east": east, "a": a, "b": b, "units": units}


def test_unit_types_are_counted_by_rooms(stock):
    types = {t.rooms: t for t in services.estate_listing(stock["a"].code).types}
    assert sorted(types) == [1, 2, 3]
    one, two, three = types[1], types[2], types[3]
    assert (one.units, one.vacant, one.area_min, one.area_max) == (
        2,
        1,
        Decimal("30.00"),
        Decimal("34.50"),
    )
    assert (one.rent_min, one.rent_max) == (Decimal("300.00"), Decimal("345.00"))
    # offered in a round, under repair: not vacant to let
    assert (two.units, two.vacant, two.accessible) == (3, 1, 1)
    assert (two.area_min, two.area_max) == (Decimal("45.00"), Decimal("52.00"))
    assert (three.units, three.vacant) == (1, 1)
    listing = services.estate_listing(stock["a"].code)
    assert (listing.units, listing.vacant) == (6, 3)


def test_the_listing_page_shows_estates_and_filters(client, stock):
    c = english(client)
    body = text(c.get("/housing"))
    assert "甲小区" in body
    assert "乙公寓" in body
    assert "2 estates" in body
    assert "1 room 2 1 30.00 to 34.50 300.00 to 345.00 0" in body
    assert "2 rooms 3 1 45.00 to 52.00 450.00 to 520.00 1" in body
    assert "22.00 yuan per m² a month" in body
    assert "6 units, 3 vacant" in body

    body = text(c.get("/housing", query_string={"district": stock["east"].code}))
    assert "乙公寓" in body
    assert "甲小区" not in body
    body = text(c.get("/housing", query_string={"programme": "public_rental"}))
    assert "甲小区" in body
    assert "乙公寓" not in body
    body = text(
        c.get(
            "/housing", query_string={"programme": "public_rental", "district": stock["east"].code}
        )
    )
    assert "No estate matches." in body


def test_a_bad_filter_is_said_so(client, stock):
    resp = english(client).get("/housing", query_string={"district": "nowhere"})
    assert resp.status_code == 422
    assert "There is no such district." in page_text(resp)
    resp = english(client).get("/housing", query_string={"programme": "rental_subsidy"})
    assert resp.status_code == 422
    assert "Choose public rental housing or affordable rental housing." in page_text(resp)


def test_the_listing_is_paginated(client, stock, monkeypatch):
    monkeypatch.setattr(services, "PAGE_SIZE", 1)
    c = english(client)
    first = page_text(c.get("/housing"))
    assert "page 1 of 2" in first
    assert 'rel="next"' in first
    second = page_text(c.get("/housing?page=2"))
    names = (
        [n for n in ("甲小区", "乙公寓") if n in first],
        [n for n in ("甲小区", "乙公寓") if n in second],
    )
    assert len(names[0]) == len(names[1]) == 1
    assert names[0] != names[1]
    filtered = page_text(c.get(f"/housing?district={stock['west'].code}"))
    assert "page 1 of" not in filtered


def test_the_estate_page_shows_types_and_no_unit(client, stock):
    resp = english(client).get(f"/housing/{stock['a'].code}")
    assert resp.status_code == 200
    body = text(resp)
    assert "3 rooms 1 1 58.00 600.00 0" in body
    for unit in stock["units"]:
        assert unit.number not in body
    assert 'href="/self-check?for=public_rental"' in resp.get_data(as_text=True)


def test_an_unknown_estate_is_not_found(client):
    assert client.get("/housing/NO-SUCH-CODE").status_code == 404


def test_the_listing_counts_with_one_query_per_page(client, stock, db):
    """The unit types of every estate on a page come from one GROUP BY, not a loop."""
    for _ in range(5):
        estate = EstateFactory(district=stock["west"])
        for rooms in (1, 2):
            UnitFactory(estate=estate, rooms=rooms)
    statements = []

    def count(conn, cursor, statement, *args):
        if "FROM units" in statement:
            statements.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get("/housing").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert "GROUP BY" in statements[0]


# --- contacts ---------------------------------------------------------------------------------


def test_contacts_in_the_readers_language(client, db):
    d = DistrictFactory(name_zh="演示区", name_en="Demo District")
    assert load_demo_offices() >= 2
    assert load_demo_offices() == 0  # idempotent
    centre = db.session.scalars(sa.select(Office).where(Office.district_id.is_(None))).one()
    office = db.session.scalars(sa.select(Office).where(Office.district_id == d.id)).one()
    assert services.PHONE.fullmatch(office.phone)

    zh = text(client.get("/contacts"))
    assert centre.name_zh in zh
    assert office.name_zh in zh
    assert "周一至周五 9:00-12:00, 14:30-17:30" in zh
    assert zh.index(centre.name_zh) < zh.index(office.name_zh)  # the city's centre first

    en_html = page_text(english(client).get("/contacts"))
    en = text(english(client).get("/contacts"))
    assert centre.name_en in en
    assert "Demo District housing office" in en
    assert "Monday to Friday 9:00-12:00, 14:30-17:30" in en
    assert f'href="tel:{office.phone}"' in en_html
    assert "/manager/offices" not in en_html  # no edit link for the public


# --- managers keep the contacts ---------------------------------------------------------------

OFFICE = {
    "district_id": "",
    "name_zh": "桂林市住房保障服务中心",
    "name_en": "Guilin Housing Service Centre",
    "address": "桂林市秀峰区示范路1号",
    "phone": "0773-2801234",
    "hours_zh": "周一至周五 9:00-12:00",
    "hours_en": "Monday to Friday 9:00-12:00",
    "sort_order": "0",
}


def test_a_manager_adds_and_edits_an_office(app, db):
    manager = make_staff(Role.MANAGER)
    district = DistrictFactory()
    browser = staff_browser(app, manager)
    assert "/manager/offices" in page_text(browser.get("/contacts"))

    resp = browser.post_form("/manager/offices", {**OFFICE, "district_id": str(district.id)})
    assert resp.status_code == 302
    office = db.session.scalars(sa.select(Office).where(Office.district_id == district.id)).one()
    assert office.phone == "0773-2801234"
    created = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "office.created")
    ).all()
    assert [e.object_id for e in created] == [str(office.id)]

    page = page_text(browser.get(f"/manager/offices/{office.id}"))
    assert 'value="0773-2801234"' in page
    assert (
        f'<option selected value="{district.id}"' in page
        or f'value="{district.id}" selected' in page
    )

    resp = browser.post_form(
        f"/manager/offices/{office.id}",
        {
            **OFFICE,
            "district_id": str(district.id),
            "phone": "12345",
            "hours_en": "Every day 8:00-20:00",
        },
    )
    assert resp.status_code == 302
    db.session.expire_all()
    office = db.session.get(Office, office.id)
    assert (office.phone, office.hours_en) == ("12345", "Every day 8:00-20:00")
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "office.updated")
    ).one()
    assert event.actor_id == manager.id
    assert event.object_id == str(office.id)
    assert event.details_dict["changed"] == ["hours_en", "phone"]
    assert "Every day 8:00-20:00" in text(english(app.test_client()).get("/contacts"))


@pytest.mark.parametrize(
    "phone", ["2801234", "0773 2801234", "0773-28012", "电话", "1234567890123"]
)
def test_a_bad_phone_is_refused_and_kept(app, db, phone):
    office = Office(**{**OFFICE, "district_id": None, "sort_order": 0})
    db.session.add(office)
    db.session.flush()
    browser = staff_browser(app, make_staff(Role.MANAGER))
    resp = browser.post_form(f"/manager/offices/{office.id}", {**OFFICE, "phone": phone})
    assert resp.status_code == 422
    html = page_text(resp)
    assert "Enter a phone number like 0773-2801234" in html
    assert f'value="{phone}"' in html
    db.session.expire_all()
    assert db.session.get(Office, office.id).phone == "0773-2801234"
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "office.updated")
        )
        == 0
    )


def test_required_fields_are_required(app, db):
    browser = staff_browser(app, make_staff(Role.MANAGER))
    resp = browser.post_form("/manager/offices", {**OFFICE, "name_en": "", "address": "   "})
    assert resp.status_code == 422
    assert "This field is required." in page_text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Office)) == 0


@pytest.mark.parametrize("role", [Role.OFFICER, Role.RESIDENT, Role.ADMIN])
def test_only_managers_keep_the_contacts(app, db, role):
    office = Office(**{**OFFICE, "district_id": None, "sort_order": 0})
    db.session.add(office)
    db.session.flush()
    browser = english(app.test_client())
    if role is Role.RESIDENT:
        from tests.factories.fixtures import sign_in

        assert sign_in(browser, ResidentFactory().mobile).status_code == 302
    else:
        browser = staff_browser(app, make_staff(role))
    assert browser.get("/manager/offices").status_code == 403
    assert browser.get(f"/manager/offices/{office.id}").status_code == 403
    resp = browser.post_form(f"/manager/offices/{office.id}", {**OFFICE, "phone": "12345"})
    assert resp.status_code == 403
    db.session.expire_all()
    assert db.session.get(Office, office.id).phone == "0773-2801234"


def test_anonymous_visitors_are_sent_to_sign_in(client):
    resp = client.get("/manager/offices")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")


def test_an_unknown_office_is_not_found(app):
    browser = staff_browser(app, make_staff(Role.MANAGER))
    assert browser.get("/manager/offices/999999").status_code == 404

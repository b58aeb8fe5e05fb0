"""The resident's pages, used as a resident would: start an application, give the household,
fill in the details, sign and submit, follow it, send a requested document, ask for a
second review, withdraw."""

from __future__ import annotations

import html
import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal.accounts.roles import Role
from portal.applications import services
from portal.applications.models import (
    Application,
    HouseholdMember,
    PersonClaim,
    Programme,
    Relationship,
    Status,
    SupplementRequest,
    SupplementStatus,
)
from portal.applications.texts import texts_hash
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.identifiers import make_id_number, mask_id_number
from portal.verification import services as verification
from portal.verification.departments import Department
from portal.verification.models import CheckStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.fixtures import make_staff, sign_in
from tests.factories.registry import local_household

SPOUSE = make_id_number("450302", date(1987, 5, 5), 42)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# ---------------------------------------------------------------- helpers


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302", name_en="Xiufeng District", name_zh="秀峰区")


@pytest.fixture
def en(resident_client):
    """The resident's browser, reading English."""
    resident_client.set_cookie("locale", "en", domain="portal.test")
    return resident_client


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page)
    assert m, f"no hidden field {name}"
    return m.group(1)


def app_id_of(resp) -> int:
    m = re.search(r"/applications/(\d+)", resp.headers["Location"])
    assert m, resp.headers["Location"]
    return int(m.group(1))


def start_on_page(client, programme: str = "public_rental") -> int:
    token = hidden(client.get("/applications").get_data(as_text=True), "token")
    resp = client.post_form("/applications", {"programme": programme, "token": token})
    assert resp.status_code == 302, text(resp)
    return app_id_of(resp)


def details(district, **overrides) -> dict:
    return {
        "contact_phone": "13907730001",
        "email": "",
        "current_address": "桂林市秀峰区中山中路1号",
        "district": district.code,
        "preferred": [district.code],
        "declared_income": "2400",
        **overrides,
    }


def sign_and_submit(client, app_id: int, **overrides):
    page = client.get(f"/applications/{app_id}/sign").get_data(as_text=True)
    data = {
        "accept_pledge": "y",
        "accept_authorization": "y",
        "accept_privacy": "y",
        "shown_hash": hidden(page, "shown_hash"),
        **overrides,
    }
    return client.post_form(f"/applications/{app_id}/sign", data)


def applications_of(db, user) -> list[Application]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(Application).where(Application.applicant_id == user.id))
    )


def audit_count(db, event: str, object_id) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == event, AuditEvent.object_id == str(object_id))
    )


def submitted_by_services(resident, district, *spouse: str) -> Application:
    """A submitted application made with the services (what the pages call)."""
    app = services.start_application(resident, Programme.PUBLIC_RENTAL)
    services.update_details(
        app,
        resident,
        contact_phone=resident.mobile,
        email=None,
        current_address="桂林市秀峰区中山中路1号",
        district_code=district.code,
        preferred_codes=[district.code],
    )
    for number in spouse:
        services.add_member(
            app, resident, name="李梅", id_number=number, relationship=Relationship.SPOUSE
        )
    return services.submit(
        app,
        resident,
        accept_pledge=True,
        accept_authorization=True,
        accept_privacy=True,
        locale="zh_Hans_CN",
        shown_hash=texts_hash("zh_Hans_CN"),
    )


def check_of(app: Application, department: Department):
    return next(c for c in verification.checks_of(app) if c.department is department)


def signed_in_client(app, user):
    c = app.test_client()
    assert sign_in(c, user.mobile).status_code == 302
    c.set_cookie("locale", "en", domain="portal.test")
    return c


# ---------------------------------------------------------------- applying


def test_a_resident_applies_with_a_spouse_and_follows_the_application(db, en, resident, district):
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)

    page = text(en.get("/applications"))
    assert "Start an application" in page
    assert "Rent a flat of up to 60 m²" in page  # each programme explained in a line
    app_id = start_on_page(en)

    page = text(en.get(f"/applications/{app_id}/edit"))
    assert re.search(r'<li aria-current="step">\s*Your household', page)
    assert resident.masked_id_number in page
    assert resident.id_number not in page

    resp = en.post_form(
        f"/applications/{app_id}/members",
        {"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"},
    )
    assert resp.status_code == 302
    page = text(en.get(resp.headers["Location"]))
    assert "李梅 is added to your household." in page
    assert mask_id_number(SPOUSE) in page
    assert SPOUSE not in page
    assert "Spouse" in page

    page = text(en.get(f"/applications/{app_id}/edit?step=details"))
    assert re.search(r'<li aria-current="step">\s*Details', page)
    assert "Xiufeng District" in page  # localized district names
    resp = en.post_form(f"/applications/{app_id}/edit", details(district))
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/applications/{app_id}/sign")

    page = text(en.get(f"/applications/{app_id}/sign"))
    assert "I declare that everything I and my household state" in page
    assert "I, and each adult member of my household, authorise" in page
    assert 'href="/privacy"' in page
    assert re.search(r'<li aria-current="step">\s*Sign and submit', page)

    resp = sign_and_submit(en, app_id)
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/applications/{app_id}")

    (app,) = applications_of(db, resident)
    assert app.status is Status.CHECKING
    assert {m.name for m in app.members} == {resident.real_name, "李梅"}
    assert app.signed_locale == "en"
    page = text(en.get(f"/applications/{app_id}"))
    assert app.reference in page
    assert f"Your application {app.reference} is submitted." in page
    assert "You started an application for Public rental housing." in page
    assert f"You signed the pledge and submitted the application ({app.reference})." in page
    assert "The departments are checking your data (answer due by" in page
    with force_locale("en"):
        for department in Department:
            assert str(department.label) in page
    assert page.count("Data found, consistent") == len(Department)
    # the list of applications shows it, with what comes next
    page = text(en.get("/applications"))
    assert app.reference in page
    assert "Departments check your data" in page


def test_submitting_the_sign_form_twice_makes_one_application(db, en, resident, district):
    local_household((resident.real_name, resident.id_number))
    app_id = start_on_page(en)
    en.post_form(f"/applications/{app_id}/edit", details(district))
    page = en.get(f"/applications/{app_id}/sign").get_data(as_text=True)
    data = {
        "accept_pledge": "y",
        "accept_authorization": "y",
        "accept_privacy": "y",
        "shown_hash": hidden(page, "shown_hash"),
    }
    first = en.post_form(f"/applications/{app_id}/sign", data)
    second = en.post_form(f"/applications/{app_id}/sign", data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    apps = applications_of(db, resident)
    assert len(apps) == 1
    assert apps[0].status is Status.CHECKING
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonClaim)) == 1
    assert "already" not in text(en.get(second.headers["Location"])).lower()


def test_a_double_click_on_start_makes_one_draft(db, en, resident, district):
    token = hidden(en.get("/applications").get_data(as_text=True), "token")
    one = en.post_form("/applications", {"programme": "rental_subsidy", "token": token})
    two = en.post_form("/applications", {"programme": "rental_subsidy", "token": token})
    assert one.headers["Location"] == two.headers["Location"]
    (draft,) = applications_of(db, resident)
    assert draft.programme is Programme.RENTAL_SUBSIDY
    # the same form resent after the draft was submitted leads to that application
    en.post_form(f"/applications/{draft.id}/edit", details(district))
    assert sign_and_submit(en, draft.id).status_code == 302
    again = en.post_form("/applications", {"programme": "rental_subsidy", "token": token})
    assert again.status_code == 302
    assert again.headers["Location"].endswith(f"/applications/{draft.id}")
    assert len(applications_of(db, resident)) == 1


def test_signing_without_details_says_what_to_fill_in(db, en, resident):
    app_id = start_on_page(en)
    resp = sign_and_submit(en, app_id)
    assert resp.status_code == 422
    page = text(resp)
    assert "Fill in your contact details and district first." in page
    assert f'href="/applications/{app_id}/edit?step=details"' in page
    assert applications_of(db, resident)[0].status is Status.DRAFT


def test_signing_needs_every_box_ticked(db, en, resident, district):
    app_id = start_on_page(en)
    en.post_form(f"/applications/{app_id}/edit", details(district))
    resp = sign_and_submit(en, app_id, accept_authorization="")
    assert resp.status_code == 422
    assert "Tick the box to give the authorization." in text(resp)
    assert applications_of(db, resident)[0].status is Status.DRAFT


def test_details_with_an_error_keep_what_was_typed(db, en, resident, district):
    app_id = start_on_page(en)
    resp = en.post_form(
        f"/applications/{app_id}/edit",
        details(district, contact_phone="12345", current_address="桂林市七星区漓江路8号"),
    )
    assert resp.status_code == 422
    page = text(resp)
    assert "A mobile number has 11 digits and starts with 1." in page
    assert 'value="桂林市七星区漓江路8号"' in page
    assert applications_of(db, resident)[0].current_address is None


def test_a_member_of_another_active_application_is_refused(db, app, en, resident, district):
    other = ResidentFactory()
    submitted_by_services(other, district, SPOUSE)
    app_id = start_on_page(en)
    resp = en.post_form(
        f"/applications/{app_id}/members",
        {"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"},
    )
    assert resp.status_code == 409
    page = text(resp)
    assert "This person is already in another active application or tenancy." in page
    assert 'value="李梅"' in page  # nothing typed is lost
    (draft,) = applications_of(db, resident)
    assert [m.relation for m in draft.members] == [Relationship.APPLICANT]


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (SPOUSE[:-1] + ("0" if SPOUSE[-1] != "0" else "1"), "please check each digit"),
        ("45030219870230004X", "The birth date inside this ID number is not a real date."),
        ("4503021987", "An ID number has 17 digits followed by a digit or the letter X."),
    ],
)
def test_invalid_id_numbers_are_refused_with_the_reason(db, en, resident, number, reason):
    app_id = start_on_page(en)
    resp = en.post_form(
        f"/applications/{app_id}/members",
        {"name": "李梅", "id_number": number, "relationship": "spouse"},
    )
    assert resp.status_code == 422
    assert reason in text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HouseholdMember)) == 1


def test_the_applicant_can_remove_a_member_but_not_themselves(db, en, resident):
    app_id = start_on_page(en)
    en.post_form(
        f"/applications/{app_id}/members",
        {"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"},
    )
    (draft,) = applications_of(db, resident)
    spouse = next(m for m in draft.members if m.relation is Relationship.SPOUSE)
    me = next(m for m in draft.members if m.relation is Relationship.APPLICANT)
    page = text(en.get(f"/applications/{app_id}/edit"))
    assert f"/members/{spouse.id}/remove" in page
    assert f"/members/{me.id}/remove" not in page
    resp = en.post_form(f"/applications/{app_id}/members/{me.id}/remove")
    assert resp.status_code == 422
    assert "The applicant cannot be removed." in text(resp)
    resp = en.post_form(f"/applications/{app_id}/members/{spouse.id}/remove")
    assert resp.status_code == 302
    assert [m.relation for m in applications_of(db, resident)[0].members] == [
        Relationship.APPLICANT
    ]


def test_another_residents_application_answers_404_and_is_audited(db, en, resident, district):
    other = ResidentFactory()
    theirs = submitted_by_services(other, district)
    before = audit_count(db, "access.out_of_scope", theirs.id)
    assert en.get(f"/applications/{theirs.id}").status_code == 404
    assert en.get(f"/applications/{theirs.id}/edit").status_code == 404
    resp = en.post_form(f"/applications/{theirs.id}/withdraw", {"understand": "y"})
    assert resp.status_code == 404
    assert audit_count(db, "access.out_of_scope", theirs.id) == before + 3
    db.session.expire_all()
    assert db.session.get(Application, theirs.id).status is Status.CHECKING


def test_staff_cannot_use_the_residents_pages(db, staff_client):
    officer_client, _ = staff_client(Role.OFFICER)
    assert officer_client.get("/applications").status_code == 403


def test_pages_follow_the_language(db, resident_client, resident, district):
    app_id = start_on_page(resident_client)
    page = resident_client.get(f"/applications/{app_id}/edit").get_data(as_text=True)
    assert '<html lang="zh-Hans"' in page
    assert "秀峰区" in resident_client.get(f"/applications/{app_id}/edit?step=details").get_data(
        as_text=True
    )
    resident_client.set_cookie("locale", "en", domain="portal.test")
    page = resident_client.get(f"/applications/{app_id}/edit").get_data(as_text=True)
    assert '<html lang="en"' in page
    assert "Add a household member" in page


def test_pages_are_made_for_a_phone(db, en, resident, district):
    """No phone in these tests: the pages use the responsive pieces (viewport, wrapped tables)."""
    local_household((resident.real_name, resident.id_number))
    app = submitted_by_services(resident, district)
    for url in ("/applications", f"/applications/{app.id}"):
        page = en.get(url).get_data(as_text=True)
        assert 'name="viewport" content="width=device-width' in page
        assert page.count("<table") == page.count('<div class="table-wrap" tabindex="0">')
        assert "style=" not in page
        assert "<script>" not in page


# ---------------------------------------------------------------- status page


def test_the_status_page_explains_the_rules_after_the_checks(db, en, resident, district):
    local_household((resident.real_name, resident.id_number), wage=5000)
    app = submitted_by_services(resident, district)
    for check in verification.checks_of(app):
        reviewer = make_staff(Role.REVIEWER, department=check.department)
        verification.confirm(check, reviewer, None if check.status is CheckStatus.MATCH else "ok")
    page = text(en.get(f"/applications/{app.id}"))
    assert "A housing officer decides by" in page
    assert "All departments have answered." in page
    assert "Household income" in page
    assert "Not met" in page
    assert "Income per person is ¥5000.00 a month, not below the line of ¥1549." in page
    assert "Met" in page


def test_a_department_finding_is_shown_in_words(db, en, resident, district):
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    app = submitted_by_services(resident, district)  # the spouse is left out
    page = text(en.get(f"/applications/{app.id}"))
    assert "Data differ from the application" in page
    assert f"A spouse ({mask_id_number(SPOUSE)}) is registered but not in the application." in page
    assert SPOUSE not in page


# ---------------------------------------------------------------- documents (补正)


@pytest.fixture
def supplement(db, resident, district):
    """A submitted application whose public-security check asks for the hukou booklet."""
    app = submitted_by_services(resident, district)  # no registry data: no record found
    check = check_of(app, Department.PUBLIC_SECURITY)
    assert check.status is CheckStatus.NO_DATA
    reviewer = make_staff(Role.REVIEWER, department=Department.PUBLIC_SECURITY)
    req = services.request_supplement(
        app, reviewer, document="户口簿", reason="无户籍记录", check=check
    )
    return app, req


def upload(client, app_id: int, req_id: int, data: bytes, name: str):
    return client.post(
        f"/applications/{app_id}/supplements/{req_id}",
        data={"csrf_token": client.csrf_token(), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def reload(db, app: Application, req: SupplementRequest):
    db.session.expire_all()
    return db.session.get(Application, app.id), db.session.get(SupplementRequest, req.id)


def test_the_resident_uploads_the_requested_document(db, en, supplement):
    app, req = supplement
    page = text(en.get(f"/applications/{app.id}"))
    assert "We need a document from you by" in page
    assert "户口簿" in page
    assert 'enctype="multipart/form-data"' in page
    resp = upload(en, app.id, req.id, PDF, "hukou.pdf")
    assert resp.status_code == 302
    app, req = reload(db, app, req)
    assert req.status is SupplementStatus.ANSWERED
    assert app.status is Status.CHECKING
    page = text(en.get(f"/applications/{app.id}"))
    assert "Thank you: 户口簿 is sent." in page
    assert "You sent the requested document: 户口簿." in page
    assert "hukou.pdf" in page


def test_a_png_named_pdf_is_refused_and_the_request_stays_open(db, en, supplement):
    app, req = supplement
    resp = upload(en, app.id, req.id, PNG, "hukou.pdf")
    assert resp.status_code == 422
    page = text(resp)
    assert "Only PDF, JPG or PNG files are accepted, and the name must match the content." in page
    assert 'role="alert"' in page
    app, req = reload(db, app, req)
    assert req.status is SupplementStatus.OPEN
    assert app.status is Status.SUPPLEMENT


def test_an_upload_over_10_mib_answers_413_and_the_request_stays_open(db, en, supplement):
    app, req = supplement
    resp = upload(en, app.id, req.id, PDF + b"0" * (10 * 1024 * 1024 + 1 - len(PDF)), "big.pdf")
    assert resp.status_code == 413
    assert "at most 10 MB" in text(resp)
    app, req = reload(db, app, req)
    assert req.status is SupplementStatus.OPEN
    assert req.upload_id is None


def test_the_document_downloads_only_for_those_handling_the_case(
    db, app, en, supplement, district, staff_client
):
    application, req = supplement
    assert upload(en, application.id, req.id, PDF, "hukou.pdf").status_code == 302
    _, req = reload(db, application, req)
    url = f"/uploads/{req.upload_id}"

    resp = en.get(url)
    assert resp.status_code == 200
    assert resp.data == PDF
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"

    officer, _ = staff_client(Role.OFFICER, districts=[district])
    resp = officer.get(url)
    assert resp.status_code == 200
    assert resp.headers["Content-Disposition"].startswith("attachment")
    reviewer, _ = staff_client(Role.REVIEWER, department=Department.PUBLIC_SECURITY)
    assert reviewer.get(url).status_code == 200

    before = audit_count(db, "access.out_of_scope", req.upload_id)
    stranger = signed_in_client(app, ResidentFactory())
    assert stranger.get(url).status_code == 404
    far_officer, _ = staff_client(Role.OFFICER, districts=[DistrictFactory()])
    assert far_officer.get(url).status_code == 404
    other_department, _ = staff_client(Role.REVIEWER, department=Department.VEHICLES)
    assert other_department.get(url).status_code == 404
    assert audit_count(db, "access.out_of_scope", req.upload_id) == before + 3


def test_another_residents_request_cannot_be_answered(db, app, supplement):
    application, req = supplement
    stranger = signed_in_client(app, ResidentFactory())
    resp = upload(stranger, application.id, req.id, PDF, "x.pdf")
    assert resp.status_code == 404
    _, req = reload(db, application, req)
    assert req.status is SupplementStatus.OPEN


# ---------------------------------------------------------------- decisions


@pytest.fixture
def rejected(db, resident, district):
    local_household((resident.real_name, resident.id_number), wage=5000)
    app = submitted_by_services(resident, district)
    for check in verification.checks_of(app):
        reviewer = make_staff(Role.REVIEWER, department=check.department)
        verification.confirm(check, reviewer, None if check.status is CheckStatus.MATCH else "ok")
    officer = make_staff(Role.OFFICER, districts=[district])
    services.reject(app, officer, "家庭人均收入超过标准。")
    return app


def test_a_rejected_resident_asks_for_a_second_review(db, en, rejected):
    page = text(en.get(f"/applications/{rejected.id}"))
    assert "Not approved: 家庭人均收入超过标准。" in page
    assert "you may ask for it to be looked at again until" in page
    resp = en.post_form(f"/applications/{rejected.id}/second-review", {"reason": "不对"})
    assert resp.status_code == 422
    assert "Explain in a few sentences why the decision is wrong." in text(resp)
    resp = en.post_form(
        f"/applications/{rejected.id}/second-review",
        {"reason": "我的工资从今年三月起已经降低，请重新核对社保数据。"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, rejected.id).status is Status.SECOND_REVIEW
    page = text(en.get(f"/applications/{rejected.id}"))
    assert "You asked for a second review of the decision." in page
    assert "A housing officer is looking at the decision again." in page


def test_no_second_review_after_the_deadline(db, en, rejected):
    rejected.second_review_by = today() - timedelta(days=2)
    db.session.flush()
    page = text(en.get(f"/applications/{rejected.id}"))
    assert "The time to ask for a second review has passed." in page
    assert "/second-review" not in page
    resp = en.post_form(
        f"/applications/{rejected.id}/second-review",
        {"reason": "我的工资从今年三月起已经降低，请重新核对社保数据。"},
    )
    assert resp.status_code == 409
    db.session.expire_all()
    assert db.session.get(Application, rejected.id).status is Status.REJECTED


def test_withdrawing_releases_the_household(db, app, en, resident, district):
    local_household((resident.real_name, resident.id_number), ("李梅", SPOUSE), married=True)
    mine = submitted_by_services(resident, district, SPOUSE)
    neighbour = ResidentFactory()
    theirs = signed_in_client(app, neighbour)
    their_id = start_on_page(theirs)
    spouse = {"name": "李梅", "id_number": SPOUSE, "relationship": "spouse"}
    assert theirs.post_form(f"/applications/{their_id}/members", spouse).status_code == 409

    resp = en.post_form(f"/applications/{mine.id}/withdraw", {})
    assert resp.status_code == 422
    assert "Tick the box to confirm that you want to withdraw." in text(resp)
    resp = en.post_form(f"/applications/{mine.id}/withdraw", {"understand": "y"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, mine.id).status is Status.WITHDRAWN
    page = text(en.get(f"/applications/{mine.id}"))
    assert "You withdrew the application." in page
    assert "/withdraw" not in page

    assert theirs.post_form(f"/applications/{their_id}/members", spouse).status_code == 302
    (draft,) = applications_of(db, neighbour)
    assert {m.relation for m in draft.members} == {Relationship.APPLICANT, Relationship.SPOUSE}


def test_the_start_page_refuses_a_second_active_application(db, en, resident, district):
    local_household((resident.real_name, resident.id_number))
    token = hidden(en.get("/applications").get_data(as_text=True), "token")
    app = submitted_by_services(resident, district)
    page = text(en.get("/applications"))
    assert "Your household is in an active application." in page
    assert f"See application {app.reference}" in page
    # the form sent from a page opened before the first application was submitted
    resp = en.post_form("/applications", {"programme": "public_rental", "token": token})
    assert resp.status_code == 409
    assert "You already have an active application or tenancy" in text(resp)
    assert len(applications_of(db, resident)) == 1


def test_the_dashboard_lists_the_applications(db, en, resident, district):
    local_household((resident.real_name, resident.id_number))
    app = submitted_by_services(resident, district)
    page = text(en.get("/me"))
    assert app.reference in page
    assert "Start an application" in page
    assert 'href="/applications"' in page

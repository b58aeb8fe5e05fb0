"""The credit pages: staff flag a violation with evidence, a second manager confirms it (the
flagger gets 409, an officer 403), the resident sees only their own records and objects with
a document, a manager decides; the catalogue is versioned by managers; scope and files."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.credit import services
from portal.credit.models import (
    AppealStatus,
    CreditAppeal,
    CreditRecord,
    RecordStatus,
    SubjectKind,
    ViolationType,
)
from portal.extensions import db
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.credit import organisation_code, person_id_number
from tests.factories.fixtures import (
    make_staff,
    page_text,
    resident_browser,
    staff_browser,
)
from tests.factories.waitlist import waiting_entry

PDF = b"%PDF-1.4\n% test evidence\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
FACTS = "经现场核查，承租人将住房转租给他人居住，有租赁合同为证。"
REASON = "转租合同是伪造的，我一直住在这里，有水电缴费记录可以证明。"


def flag_form(**changes) -> dict:
    data = {
        "subject_kind": "person",
        "id_number": person_id_number(),
        "credit_code": "",
        "name": "李四",
        "code": "V-SUBLET",
        "months": "",
        "occurred_on": (today() - timedelta(days=3)).isoformat(),
        "facts": FACTS,
    }
    data.update(changes)
    return data


def pending(flagger, **kw) -> CreditRecord:
    values = {
        "subject_kind": SubjectKind.PERSON,
        "id_number": person_id_number(),
        "name": "李四",
        "code": "V-SUBLET",
        "facts": FACTS,
        "occurred_on": today() - timedelta(days=3),
    }
    values.update(kw)
    return services.flag_violation(flagger, **values)


def records() -> list[CreditRecord]:
    return list(db.session.scalars(sa.select(CreditRecord).order_by(CreditRecord.id)))


@pytest.fixture
def flagger(db):
    return make_staff(Role.MANAGER)


@pytest.fixture
def confirmer(db):
    return make_staff(Role.MANAGER)


# --- flagging and confirming -------------------------------------------------------------------


def test_a_manager_flags_with_evidence_and_another_confirms(app, flagger, confirmer):
    browser = staff_browser(app, flagger)
    form = browser.get("/staff/credit/flag")
    assert form.status_code == 200
    assert "V-SUBLET" in page_text(form)

    resp = browser.post_form(
        "/staff/credit/flag",
        {**flag_form(), "evidence": [(io.BytesIO(PDF), "contract.pdf")]},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, page_text(resp)
    (record,) = records()
    assert record.status is RecordStatus.PENDING
    assert [f.original_name for f in record.evidence] == ["contract.pdf"]
    page = page_text(browser.get(resp.headers["Location"]))
    assert record.reference in page
    assert "another manager confirms or rejects it" in page
    evidence_url = f"/staff/credit/records/{record.id}/files/{record.evidence[0].id}"
    assert evidence_url in page
    download = browser.get(evidence_url)
    assert download.status_code == 200
    assert download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")

    # four eyes: the flagger's own confirmation is refused with a clear page
    refused = browser.post_form(f"/staff/credit/records/{record.id}/confirm", {"note": ""})
    assert refused.status_code == 409
    assert "another manager must confirm or reject it" in page_text(refused)
    db.session.expire_all()
    assert db.session.get(CreditRecord, record.id).status is RecordStatus.PENDING
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.event == "credit.confirm", AuditEvent.result == "denied"
        )
    )

    other = staff_browser(app, confirmer)
    resp = other.post_form(f"/staff/credit/records/{record.id}/confirm", {"note": "证据充分"})
    assert resp.status_code == 302
    db.session.expire_all()
    confirmed = db.session.get(CreditRecord, record.id)
    assert confirmed.status is RecordStatus.ACTIVE
    assert confirmed.confirmed_by_id == confirmer.id
    page = page_text(other.get(f"/staff/credit/records/{record.id}"))
    assert "In force" in page
    assert "Credit score" in page
    assert "70" in page  # 100 - 30


def test_an_officer_cannot_confirm(app, flagger):
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    entry = waiting_entry(district)
    record = pending(flagger, id_number=entry.application.applicant.id_number)
    browser = staff_browser(app, officer)
    assert browser.get(f"/staff/credit/records/{record.id}").status_code == 200
    resp = browser.post_form(f"/staff/credit/records/{record.id}/confirm", {"note": ""})
    assert resp.status_code == 403
    assert record.status is RecordStatus.PENDING


def test_rejecting_needs_a_reason(app, flagger, confirmer):
    record = pending(flagger)
    browser = staff_browser(app, confirmer)
    resp = browser.post_form(f"/staff/credit/records/{record.id}/reject", {"note": ""})
    assert resp.status_code == 422
    resp = browser.post_form(f"/staff/credit/records/{record.id}/reject", {"note": "证据不足。"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(CreditRecord, record.id).status is RecordStatus.REJECTED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id_number": "450305198001010010"}, "This ID number is not valid"),
        (
            {"subject_kind": "organisation", "credit_code": "91450300MA5K000010"},
            "This unified social credit code is not valid",
        ),
        (
            {"occurred_on": (today() + timedelta(days=1)).isoformat()},
            "cannot have happened in the future",
        ),
        ({"facts": "太短"}, "Describe the facts in at least 10 characters"),
        ({"facts": ""}, "This field is required."),
    ],
)
def test_flagging_errors_are_shown_and_files_must_be_attached_again(app, flagger, changes, message):
    browser = staff_browser(app, flagger)
    resp = browser.post_form(
        "/staff/credit/flag",
        {**flag_form(**changes), "evidence": [(io.BytesIO(PDF), "contract.pdf")]},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    body = page_text(resp)
    assert message in body
    assert "The files you chose were not kept" in body
    assert records() == []


def test_a_file_that_is_not_what_its_name_says_is_refused(app, flagger):
    browser = staff_browser(app, flagger)
    resp = browser.post_form(
        "/staff/credit/flag",
        {**flag_form(), "evidence": [(io.BytesIO(PNG), "contract.pdf")]},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert "Only PDF, JPG or PNG files are accepted" in page_text(resp)
    assert records() == []


# --- scope -------------------------------------------------------------------------------------


def test_officers_see_their_districts_own_flags_and_organisations(app, flagger):
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    mine = pending(flagger, id_number=waiting_entry(district).application.applicant.id_number)
    elsewhere = pending(
        flagger, id_number=waiting_entry(DistrictFactory()).application.applicant.id_number
    )
    org = pending(
        flagger,
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=organisation_code(),
        name="某物业公司",
        code="V-BREACH",
    )
    browser = staff_browser(app, officer)
    listing = page_text(browser.get("/staff/credit/"))
    assert mine.reference in listing
    assert org.reference in listing
    assert elsewhere.reference not in listing
    assert browser.get(f"/staff/credit/records/{elsewhere.id}").status_code == 404
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.event == "access.out_of_scope", AuditEvent.actor_id == officer.id
        )
    )
    manager_listing = page_text(staff_browser(app, flagger).get("/staff/credit/?status=pending"))
    for r in (mine, elsewhere, org):
        assert r.reference in manager_listing


def test_residents_and_other_staff_roles_have_no_staff_pages(app, flagger):
    record = pending(flagger)
    resident = ResidentFactory()
    assert resident_browser(app, resident).get("/staff/credit/").status_code == 403
    reviewer = staff_browser(app, make_staff(Role.REVIEWER))
    assert reviewer.get(f"/staff/credit/records/{record.id}").status_code == 403


def test_the_records_list_filters(app, flagger):
    one = pending(flagger, name="赵六")
    two = pending(flagger, code="V-BREACH", name="钱七")
    browser = staff_browser(app, flagger)
    by_grade = page_text(browser.get("/staff/credit/?grade=general"))
    assert two.reference in by_grade
    assert one.reference not in by_grade
    by_name = page_text(browser.get("/staff/credit/?q=赵六"))
    assert one.reference in by_name
    assert two.reference not in by_name
    by_number = page_text(browser.get(f"/staff/credit/?q={two.subject_id_number}"))
    assert two.reference in by_number
    assert one.reference not in by_number
    rows = by_number[by_number.index("<tbody>") : by_number.index("</tbody>")]
    assert two.subject_id_number not in rows  # the list shows it masked only
    assert services.masked_subject(two) in rows


# --- the resident's side -----------------------------------------------------------------------


def test_the_resident_sees_objects_with_a_document_and_is_answered(app, flagger, confirmer):
    resident = ResidentFactory()
    record = services.confirm(pending(flagger, id_number=resident.id_number), confirmer)
    someone = services.confirm(pending(flagger), confirmer)
    browser = resident_browser(app, resident)

    overview = page_text(browser.get("/my/credit"))
    assert record.reference in overview
    assert someone.reference not in overview
    assert "70" in overview
    assert "grade C" in overview
    assert browser.get(f"/my/credit/{someone.reference}").status_code == 404

    page = page_text(browser.get(f"/my/credit/{record.reference}"))
    assert "Object to this record" in page
    assert FACTS in page

    short = browser.post_form(
        f"/my/credit/{record.reference}/objection",
        {"reason": "不对", "files": [(io.BytesIO(PNG), "bill.png")]},
        content_type="multipart/form-data",
    )
    assert short.status_code == 422
    assert "at least 10 characters" in page_text(short)
    assert "choose them again" in page_text(short)

    resp = browser.post_form(
        f"/my/credit/{record.reference}/objection",
        {"reason": REASON, "files": [(io.BytesIO(PNG), "bill.png")]},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, page_text(resp)
    appeal = db.session.scalars(sa.select(CreditAppeal)).one()
    assert [f.original_name for f in appeal.files] == ["bill.png"]
    file_url = f"/my/credit/{record.reference}/files/{appeal.files[0].id}"
    assert browser.get(file_url).data == PNG
    intruder = resident_browser(app, ResidentFactory())
    assert intruder.get(file_url).status_code == 404

    manager = staff_browser(app, confirmer)
    queue = page_text(manager.get("/staff/credit/appeals"))
    assert record.reference in queue
    assert manager.get(f"/staff/credit/records/{record.id}/files/{appeal.files[0].id}").data == PNG
    resp = manager.post_form(
        f"/staff/credit/appeals/{appeal.id}",
        {"outcome": "granted", "reason": "经复核，转租事实不成立。"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(CreditAppeal, appeal.id).status is AppealStatus.GRANTED
    assert db.session.get(CreditRecord, record.id).status is RecordStatus.ANNULLED
    page = page_text(browser.get(f"/my/credit/{record.reference}"))
    assert "Annulled after objection" in page
    assert "经复核，转租事实不成立。" in page
    assert "Object to this record" not in page
    assert "100" in page_text(browser.get("/my/credit"))


def test_a_pending_record_is_not_shown_to_its_subject(app, flagger):
    resident = ResidentFactory()
    record = pending(flagger, id_number=resident.id_number)
    browser = resident_browser(app, resident)
    assert record.reference not in page_text(browser.get("/my/credit"))
    assert browser.get(f"/my/credit/{record.reference}").status_code == 404


def test_the_waiting_list_page_names_the_credit_record(app, flagger, confirmer):
    entry = waiting_entry()
    resident = entry.application.applicant
    record = services.confirm(
        pending(flagger, id_number=resident.id_number, code="V-VACANT"), confirmer
    )
    page = page_text(resident_browser(app, resident).get("/waitlist"))
    assert "A credit record suspends your household's place" in page
    assert record.reference in page
    assert "/my/credit" in page
    assert "The time to object has passed" not in page


# --- the catalogue -----------------------------------------------------------------------------


def version_form(**changes) -> dict:
    values = services.values_of(services.violation_type("V-BREACH"))
    data = {
        **{k: str(v) for k, v in values.items() if k not in ("suspends_queue", "opens_exit")},
        "grade": values["grade"].value,
        "effective_from": today().isoformat(),
    }
    data.update(changes)
    return data


def test_managers_add_versions_with_checks_and_retire_codes(app, flagger):
    browser = staff_browser(app, flagger)
    catalogue = page_text(browser.get("/staff/credit/catalogue"))
    assert "V-FALSE-PLEDGE" in catalogue
    assert "Add a violation code" in catalogue

    resp = browser.post_form("/staff/credit/catalogue/V-BREACH", version_form(publish_months="24"))
    assert resp.status_code == 422
    assert "published for 3 to 12 months" in page_text(resp)
    resp = browser.post_form(
        "/staff/credit/catalogue/V-BREACH",
        version_form(effective_from=(today() - timedelta(days=1)).isoformat()),
    )
    assert resp.status_code == 422
    assert "the past is not rewritten" in page_text(resp)

    resp = browser.post_form("/staff/credit/catalogue/V-BREACH", version_form(points="8"))
    assert resp.status_code == 302
    assert services.violation_type("V-BREACH").points == 8
    history = page_text(browser.get("/staff/credit/catalogue/V-BREACH"))
    assert "in force" in history

    resp = browser.post_form(
        "/staff/credit/catalogue/new",
        version_form(code="V-NOISE", name_zh="噪音扰民", name_en="Noise nuisance"),
    )
    assert resp.status_code == 302
    assert "V-NOISE" in page_text(browser.get("/staff/credit/catalogue"))
    resp = browser.post_form(
        "/staff/credit/catalogue/V-NOISE/retire", {"effective_from": today().isoformat()}
    )
    assert resp.status_code == 302
    assert "Retired codes" in page_text(browser.get("/staff/credit/catalogue"))
    versions = db.session.scalars(
        sa.select(ViolationType.version).where(ViolationType.code == "V-NOISE")
    ).all()
    assert sorted(versions) == [1, 2]


def test_officers_read_the_catalogue_but_cannot_change_it(app):
    officer = staff_browser(app, make_staff(Role.OFFICER))
    assert officer.get("/staff/credit/catalogue").status_code == 200
    page = page_text(officer.get("/staff/credit/catalogue/V-SUBLET"))
    assert "Add a version" not in page
    assert officer.post_form("/staff/credit/catalogue/V-SUBLET", version_form()).status_code == 403
    assert officer.get("/staff/credit/catalogue/new").status_code == 403


def test_the_workbench_links_the_credit_pages(app, flagger):
    manager_home = page_text(staff_browser(app, flagger).get("/staff/"))
    assert "/staff/credit/appeals" in manager_home
    assert "/staff/credit/catalogue" in manager_home
    officer_home = page_text(staff_browser(app, make_staff(Role.OFFICER)).get("/staff/"))
    assert "/staff/credit/flag" in officer_home
    assert re.search(
        r'href="/my/credit"', page_text(resident_browser(app, ResidentFactory()).get("/me"))
    )

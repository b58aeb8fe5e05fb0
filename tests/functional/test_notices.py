"""Public notice (公示) and objections (异议): publish approved households masked, object,
answer objections, close the notice and qualify the households (RULES.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.roles import Role
from portal.applications import services as applications
from portal.applications.models import Programme, Status
from portal.core.audit import AuditEvent
from portal.core.calendar import add_working_days
from portal.core.clock import today
from portal.notices import services
from portal.notices.models import (
    Notice,
    NoticeEntry,
    NoticeStatus,
    Objection,
    ObjectionStatus,
)
from portal.notifications.models import Message
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, settle_all, submit
from tests.factories.fixtures import (
    english,
    make_staff,
    resident_browser,
    staff_browser,
)
from tests.factories.registry import local_household

REASON = "他家在七星区有一套住房，我是邻居，亲眼见过房产证。"

# --- helpers (as in test_application_services.py) ----------------------------------------


def approved(district, officer, name: str):
    """A resident called ``name`` whose application ``officer`` has approved."""
    resident = ResidentFactory(real_name=name)
    local_household((resident.real_name, resident.id_number))
    app = submit(draft_for(resident, district), resident)
    settle_all(app)
    applications.approve(app, officer)
    assert app.status is Status.APPROVED
    return resident, app


def after_the_notice(notice):
    """A moment on the day after the notice's last day (city time)."""
    return datetime.combine(notice.ends_on + timedelta(days=1), datetime.min.time(), UTC) + (
        timedelta(hours=4)
    )


def messages(user, kind):
    return [
        json.loads(m.params_json)
        for m in Message.query.filter_by(user_id=user.id, kind=kind).order_by(Message.id)
    ]


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302", name_en="Xiufeng District", name_zh="秀峰区")


@pytest.fixture
def published(db, district, officer):
    """Two approved households (张伟, 欧阳修) on a notice; returns (notice, {name: (user, app)})."""
    households = {name: approved(district, officer, name) for name in ("张伟", "欧阳修")}
    notice = services.publish_notice(officer, district, Programme.PUBLIC_RENTAL)
    return notice, households


def entry_of(notice, app) -> NoticeEntry:
    return next(e for e in notice.entries if e.application_id == app.id)


def object_url(notice, entry) -> str:
    return f"/notices/{notice.id}/entries/{entry.id}/objections"


# --- masking -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张伟", "张*"), ("欧阳修", "欧**"), ("李", "*"), ("买买提江", "买***"), ("", "*")],
)
def test_names_keep_only_the_first_character(name, masked):
    assert services.mask_name(name) == masked


# --- publishing --------------------------------------------------------------------------


def test_officer_publishes_approved_households_and_the_public_sees_them_masked(
    app, db, district, officer
):
    zhang, zhang_app = approved(district, officer, "张伟")
    ouyang, ouyang_app = approved(district, officer, "欧阳修")
    browser = staff_browser(app, officer)
    page = browser.get("/officer/notices").get_data(as_text=True)
    assert "Publish notice" in page

    resp = browser.post_form(
        "/officer/notices", {"district": district.code, "programme": "public_rental"}
    )
    assert resp.status_code == 302
    assert "2 households" in browser.get(resp.location).get_data(as_text=True)
    db.session.expire_all()
    assert zhang_app.status is Status.NOTICE
    assert ouyang_app.status is Status.NOTICE
    notice = db.session.scalars(sa.select(Notice)).one()
    assert notice.status is NoticeStatus.OPEN
    assert notice.starts_on == today()
    assert notice.ends_on == today() + timedelta(days=10)
    assert messages(zhang, "notice_published")[0]["ends_on"] == notice.ends_on.isoformat()

    public = english(app.test_client())
    listing = public.get("/notices")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert "Xiufeng District" in html
    assert f"/notices/{notice.id}" in html
    page = public.get(f"/notices/{notice.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for person, application in ((zhang, zhang_app), (ouyang, ouyang_app)):
        assert application.reference in html
        assert person.real_name not in html
        assert person.id_number not in html
        assert f"{person.id_number[:4]}**********{person.id_number[-4:]}" in html
    assert "张*" in html
    assert "欧**" in html
    assert "Sign in to object" in html
    assert "10 working days" in html
    assert "<textarea" not in html  # nobody signed in: no objection form


def test_nothing_to_publish_is_refused(app, db, district, officer):
    browser = staff_browser(app, officer)
    resp = browser.post_form(
        "/officer/notices", {"district": district.code, "programme": "public_rental"}
    )
    assert resp.status_code == 422
    assert "nothing to publish" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0


def test_officer_cannot_publish_for_another_district(app, db, district, officer):
    approved(district, officer, "张伟")
    stranger = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    browser = staff_browser(app, stranger)
    resp = browser.post_form(
        "/officer/notices", {"district": district.code, "programme": "public_rental"}
    )
    assert resp.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0
    denied = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == "access.out_of_scope", AuditEvent.actor_id == stranger.id
        )
    ).all()
    assert len(denied) == 1


def test_residents_cannot_reach_the_officers_pages(app, db, resident):
    browser = resident_browser(app, resident)
    assert browser.get("/officer/notices").status_code == 403
    assert browser.get("/officer/objections").status_code == 403


# --- objections --------------------------------------------------------------------------


def test_signed_in_resident_objects_once_with_a_reason(app, db, published):
    notice, households = published
    _zhang, zhang_app = households["张伟"]
    entry = entry_of(notice, zhang_app)
    neighbour = ResidentFactory()
    browser = resident_browser(app, neighbour)
    page = browser.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert page.count("<textarea") == 2  # one form per household

    resp = browser.post_form(object_url(notice, entry), {"reason": REASON})
    assert resp.status_code == 302
    page = browser.get(resp.location).get_data(as_text=True)
    assert "Your objection to" in page
    objection = db.session.scalars(sa.select(Objection)).one()
    assert objection.status is ObjectionStatus.OPEN
    assert objection.objector_id == neighbour.id
    assert objection.respond_by == add_working_days(today(), 10)
    assert "being looked into" in page
    assert page.count("<textarea") == 1  # no second form for the same household

    again = browser.post_form(object_url(notice, entry), {"reason": REASON + "再说一遍"})
    assert again.status_code == 409
    assert "already being looked into" in again.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 1


def test_a_short_reason_is_refused(app, db, published):
    notice, households = published
    entry = entry_of(notice, households["张伟"][1])
    browser = resident_browser(app, ResidentFactory())
    resp = browser.post_form(object_url(notice, entry), {"reason": "不对"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "at least 10 characters" in html
    assert 'role="alert"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0


def test_the_applicant_cannot_object_to_their_own_household(app, db, published):
    notice, households = published
    zhang, zhang_app = households["张伟"]
    entry = entry_of(notice, zhang_app)
    browser = resident_browser(app, zhang)
    page = browser.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "Your household" in page
    assert page.count("<textarea") == 1  # only for the other household
    resp = browser.post_form(object_url(notice, entry), {"reason": REASON})
    assert resp.status_code == 403
    assert "your own household" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0


def test_objecting_needs_a_sign_in(app, db, published):
    notice, households = published
    entry = entry_of(notice, households["张伟"][1])
    anonymous = app.test_client()
    resp = anonymous.post_form(object_url(notice, entry), {"reason": REASON})
    assert resp.status_code == 302
    assert "/login" in resp.location
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0


def test_no_objection_after_the_notice_ended(app, db, published):
    notice, households = published
    entry = entry_of(notice, households["张伟"][1])
    neighbour = ResidentFactory()
    with time_machine.travel(after_the_notice(notice), tick=False):
        browser = resident_browser(app, neighbour)
        assert "<textarea" not in browser.get(f"/notices/{notice.id}").get_data(as_text=True)
        resp = browser.post_form(object_url(notice, entry), {"reason": REASON})
    assert resp.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0


def test_officer_of_another_district_cannot_see_or_answer_an_objection(app, db, published):
    notice, households = published
    objection = services.file_objection(
        ResidentFactory(), entry_of(notice, households["张伟"][1]), REASON
    )
    stranger = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    browser = staff_browser(app, stranger)
    assert REASON not in browser.get("/officer/objections").get_data(as_text=True)
    assert browser.get(f"/officer/objections/{objection.id}").status_code == 404
    resp = browser.post_form(
        f"/officer/objections/{objection.id}",
        {"outcome": "upheld", "resolution": "查实有房"},
    )
    assert resp.status_code == 404
    db.session.expire_all()
    assert objection.status is ObjectionStatus.OPEN
    assert households["张伟"][1].status is Status.NOTICE
    events = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.event == "access.out_of_scope", AuditEvent.actor_id == stranger.id
        )
    ).all()
    assert {e.object_id for e in events} == {str(objection.id)}
    assert len(events) == 2


# --- closing -----------------------------------------------------------------------------


def test_closing_before_the_end_date_is_refused(app, db, published, officer):
    notice, households = published
    browser = staff_browser(app, officer)
    resp = browser.post_form(f"/officer/notices/{notice.id}/close")
    assert resp.status_code == 409
    assert "can be closed after that day" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert notice.status is NoticeStatus.OPEN
    assert households["张伟"][1].status is Status.NOTICE


def test_closing_with_an_open_objection_is_refused(app, db, published, officer):
    notice, households = published
    services.file_objection(ResidentFactory(), entry_of(notice, households["张伟"][1]), REASON)
    assert services.due_notices(notice.ends_on + timedelta(days=1)) == []
    with time_machine.travel(after_the_notice(notice), tick=False):
        browser = staff_browser(app, officer)
        page = browser.get("/officer/notices").get_data(as_text=True)
        assert "Answer the open objections first." in page
        resp = browser.post_form(f"/officer/notices/{notice.id}/close")
    assert resp.status_code == 409
    assert "1 objection to this notice is still open" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert notice.status is NoticeStatus.OPEN
    assert households["张伟"][1].status is Status.NOTICE


def test_dismissed_objection_then_closing_qualifies_the_households(app, db, published, officer):
    notice, households = published
    zhang, zhang_app = households["张伟"]
    ouyang, ouyang_app = households["欧阳修"]
    neighbour = ResidentFactory(locale="en")
    objection = services.file_objection(neighbour, entry_of(notice, zhang_app), REASON)

    browser = staff_browser(app, officer)
    listing = browser.get("/officer/objections").get_data(as_text=True)
    assert zhang_app.reference in listing
    page = browser.get(f"/officer/objections/{objection.id}").get_data(as_text=True)
    assert REASON in page
    assert "Uphold" in page
    resp = browser.post_form(
        f"/officer/objections/{objection.id}",
        {"outcome": "dismissed", "resolution": "经核查，该房产已于2020年出售。"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert objection.status is ObjectionStatus.DISMISSED
    assert zhang_app.status is Status.NOTICE
    answer = messages(neighbour, "objection_resolved")
    assert answer == [
        {
            "reference": zhang_app.reference,
            "outcome": "dismissed",
            "resolution": "经核查，该房产已于2020年出售。",
        }
    ]

    moment = after_the_notice(notice)
    assert services.due_notices(moment.date()) == [notice]
    with time_machine.travel(moment, tick=False):
        browser = staff_browser(app, officer)
        resp = browser.post_form(f"/officer/notices/{notice.id}/close")
        assert resp.status_code == 302
        assert "2 households qualified" in browser.get(resp.location).get_data(as_text=True)
    db.session.expire_all()
    assert notice.status is NoticeStatus.CLOSED
    for person, application in ((zhang, zhang_app), (ouyang, ouyang_app)):
        assert application.status is Status.QUALIFIED
        assert application.qualified_at == moment
        assert messages(person, "qualified")[0]["reference"] == application.reference
    public = english(app.test_client()).get("/notices").get_data(as_text=True)
    assert "Recently closed" in public
    assert f"/notices/{notice.id}" in public


def test_upheld_objection_sends_the_application_back_and_the_officer_rejects_it(
    app, db, published, officer
):
    notice, households = published
    zhang, zhang_app = households["张伟"]
    ouyang, ouyang_app = households["欧阳修"]
    objection = services.file_objection(ResidentFactory(), entry_of(notice, zhang_app), REASON)
    browser = staff_browser(app, officer)
    resp = browser.post_form(
        f"/officer/objections/{objection.id}",
        {"outcome": "upheld", "resolution": "经核查，申请人在七星区有住房。"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert objection.status is ObjectionStatus.UPHELD
    assert zhang_app.status is Status.REVIEW

    page = resident_browser(app, ResidentFactory()).get(f"/notices/{notice.id}")
    html = page.get_data(as_text=True)
    assert "Taken off after an objection" in html
    assert html.count("<textarea") == 1  # only 欧阳修 can still be objected to

    applications.reject(zhang_app, officer, "申请人在七星区有住房")
    assert zhang_app.status is Status.REJECTED
    with time_machine.travel(after_the_notice(notice), tick=False):
        qualified = services.close_notice(officer, notice)
    assert [a.id for a in qualified] == [ouyang_app.id]
    assert zhang_app.status is Status.REJECTED
    assert zhang_app.qualified_at is None
    assert messages(zhang, "qualified") == []
    assert len(messages(ouyang, "qualified")) == 1


def test_a_household_approved_again_goes_on_the_next_notice(app, db, published, officer, district):
    notice, households = published
    _zhang, zhang_app = households["张伟"]
    entry = entry_of(notice, zhang_app)
    objection = services.file_objection(ResidentFactory(), entry, REASON)
    services.resolve_objection(officer, objection, True, "需要重新核查收入")
    applications.approve(zhang_app, officer, "收入已重新核实")
    later = datetime.now(UTC) + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        second = services.publish_notice(officer, district, Programme.PUBLIC_RENTAL)
    assert zhang_app.status is Status.NOTICE
    assert [e.application_id for e in second.entries] == [zhang_app.id]
    db.session.expire_all()
    assert zhang_app.id not in [e.application_id for e in notice.entries]
    rows = services.entry_rows(second, None)
    assert [(r.withdrawn, r.open_to_objection) for r in rows] == [(False, True)]


def test_answering_needs_a_resolution(app, db, published, officer):
    notice, households = published
    objection = services.file_objection(
        ResidentFactory(), entry_of(notice, households["张伟"][1]), REASON
    )
    browser = staff_browser(app, officer)
    resp = browser.post_form(
        f"/officer/objections/{objection.id}", {"outcome": "upheld", "resolution": ""}
    )
    assert resp.status_code == 422
    assert 'role="alert"' in resp.get_data(as_text=True)
    db.session.expire_all()
    assert objection.status is ObjectionStatus.OPEN
    assert households["张伟"][1].status is Status.NOTICE


def test_overdue_objections_are_marked(app, db, published, officer):
    notice, households = published
    objection = services.file_objection(
        ResidentFactory(), entry_of(notice, households["张伟"][1]), REASON
    )
    moment = datetime.combine(objection.respond_by + timedelta(days=1), datetime.min.time(), UTC)
    with time_machine.travel(moment + timedelta(hours=4), tick=False):
        browser = staff_browser(app, officer)
        html = browser.get("/officer/objections").get_data(as_text=True)
    assert "Overdue" in html

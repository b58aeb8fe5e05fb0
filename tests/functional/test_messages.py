"""The inbox: what the portal told a person, newest first, and marking it read."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.notifications.models import Message
from portal.notifications.services import notify
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.registry import local_household
from tests.functional.test_apply_pages import submitted_by_services

UNREAD_BADGE = re.compile(r'Messages\s*<span class="badge">(\d+)<span class="visually-hidden">')


@pytest.fixture
def en(resident_client):
    resident_client.set_cookie("locale", "en", domain="portal.test")
    return resident_client


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def unread_in_nav(page: str) -> int:
    m = UNREAD_BADGE.search(page)
    return int(m.group(1)) if m else 0


def test_the_application_received_message_is_in_the_inbox(db, en, resident):
    district = DistrictFactory(code="450302")
    local_household((resident.real_name, resident.id_number))
    app = submitted_by_services(resident, district)

    page = text(en.get("/messages"))
    assert f"Application {app.reference} received" in page
    assert f"We received your application {app.reference}." in page
    assert "New" in page
    assert unread_in_nav(page) == 1

    (message,) = db.session.scalars(sa.select(Message).where(Message.user_id == resident.id))
    resp = en.post_form(f"/messages/{message.id}/read")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/applications/{app.id}")
    db.session.expire_all()
    assert db.session.get(Message, message.id).read_at is not None

    page = text(en.get("/messages"))
    assert f"Application {app.reference} received" in page
    assert '<span class="badge">New</span>' not in page
    assert unread_in_nav(page) == 0
    assert f'href="/applications/{app.id}"' in page  # a read message still opens its page


def test_messages_come_newest_first_a_page_at_a_time(db, en, resident):
    for n in range(25):
        notify(resident, "application_submitted", {"reference": f"GL{n:04d}", "decide_by": "—"})
    page = text(en.get("/messages"))
    assert page.index("GL0024") < page.index("GL0023")
    assert "GL0005" in page
    assert "GL0004" not in page
    assert unread_in_nav(page) == 25
    older = re.search(r'href="(/messages\?before=\d+)"', page)
    assert older
    page = text(en.get(older.group(1)))
    assert "GL0004" in page
    assert "GL0000" in page
    assert "GL0005" not in page
    assert not re.search(r'href="/messages\?before=', page)


def test_a_message_without_a_link_returns_to_the_inbox(db, en, resident):
    message = notify(resident, "ready_for_decision", {"reference": "GL0001"})
    assert "Mark as read" in text(en.get("/messages"))
    resp = en.post_form(f"/messages/{message.id}/read")
    assert resp.headers["Location"].endswith("/messages")


def test_a_link_to_another_site_is_never_followed(db, en, resident):
    message = notify(
        resident, "ready_for_decision", {"reference": "GL0001"}, link="//evil.example/x"
    )
    resp = en.post_form(f"/messages/{message.id}/read")
    assert resp.headers["Location"].endswith("/messages")
    assert "evil.example" not in text(en.get("/messages"))


def test_another_persons_message_answers_404_and_stays_unread(db, en):
    other = ResidentFactory()
    theirs = notify(other, "ready_for_decision", {"reference": "GL0001"})
    assert "GL0001" not in text(en.get("/messages"))
    resp = en.post_form(f"/messages/{theirs.id}/read")
    assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(Message, theirs.id).read_at is None
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "access.out_of_scope", AuditEvent.object_id == str(theirs.id))
    )


def test_marking_read_needs_the_csrf_token(db, en, resident):
    message = notify(resident, "ready_for_decision", {"reference": "GL0001"})
    assert en.post(f"/messages/{message.id}/read").status_code == 400
    db.session.expire_all()
    assert db.session.get(Message, message.id).read_at is None


def test_the_inbox_needs_a_signed_in_person(client, staff_client):
    resp = client.get("/messages")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]
    officer, _ = staff_client(Role.OFFICER)
    officer.set_cookie("locale", "en", domain="portal.test")
    resp = officer.get("/messages")
    assert resp.status_code == 200
    assert "You have no messages." in text(resp)

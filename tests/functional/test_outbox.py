"""Messages: in-app always, e-mail and SMS through an outbox delivered by a job."""

import sqlalchemy as sa

from portal.notifications.models import Message, OutboxItem
from portal.notifications.services import deliver_outbox, message_text, notify
from tests.factories import ResidentFactory


class FakeMail:
    def __init__(self, fail: bool = False):
        self.sent, self.fail = [], fail

    def send(self, to, subject, body):
        if self.fail:
            raise OSError("mail server down")
        self.sent.append((to, subject, body))


class FakeSms:
    def __init__(self):
        self.sent = []

    def send(self, mobile, text):
        self.sent.append((mobile, text))


def test_notify_writes_message_and_outbox_in_the_persons_language(db):
    user = ResidentFactory(email="a@example.org", locale="en")
    msg = notify(
        user, "application_submitted", {"reference": "GL2026000001", "decide_by": "2026-12-20"}
    )
    assert db.session.get(Message, msg.id).read_at is None
    items = db.session.scalars(sa.select(OutboxItem).order_by(OutboxItem.id)).all()
    assert [i.channel for i in items] == ["email", "sms"]
    assert items[0].subject == "Application GL2026000001 received"
    assert "December 20, 2026" in items[0].body  # dates in the reader's own format
    subject, body = message_text(msg, "zh_Hans_CN")
    assert "GL2026000001" in subject
    assert "2026年12月20日" in body


def test_delivery_sends_once_and_retries_failures(app, db):
    user = ResidentFactory(email="b@example.org")
    notify(user, "approved", {"reference": "GL2026000002"})
    mail, sms = FakeMail(fail=True), FakeSms()
    app.extensions["portal.mail"], app.extensions["portal.sms"] = mail, sms
    try:
        assert deliver_outbox() == (1, 1)  # the SMS went, the mail failed
        email = db.session.scalars(sa.select(OutboxItem).where(OutboxItem.channel == "email")).one()
        assert email.sent_at is None
        assert email.attempts == 1
        assert "down" in email.last_error
        app.extensions["portal.mail"] = mail = FakeMail()
        assert deliver_outbox() == (1, 0)
        assert deliver_outbox() == (0, 0)  # nothing twice
        assert len(mail.sent) == 1
        assert len(sms.sent) == 1
        assert user.mobile == sms.sent[0][0]
    finally:
        app.extensions.pop("portal.mail")
        app.extensions.pop("portal.sms")


def test_outbox_recipients_are_encrypted_at_rest(db):
    user = ResidentFactory(email="c@example.org")
    notify(user, "approved", {"reference": "GL2026000003"})
    raw = db.session.execute(sa.text("SELECT recipient FROM outbox")).scalars().all()
    assert all(user.mobile.encode() not in bytes(r) for r in raw)


def test_application_messages_go_to_the_contact_given_on_the_application(db):
    from portal.accounts.models import District
    from tests.factories.applications import draft_for, submit

    district = District(code="450399", name_zh="测试区", name_en="Test", kind="district")
    db.session.add(district)
    resident = ResidentFactory(email=None)
    app = draft_for(resident, district)
    app.email = "family@example.org"
    app.contact_phone = "13900001111"
    submit(app, resident)
    recipients = {(i.channel, i.recipient) for i in db.session.scalars(sa.select(OutboxItem))}
    assert ("email", "family@example.org") in recipients
    assert ("sms", "13900001111") in recipients
    assert ("sms", resident.mobile) not in recipients

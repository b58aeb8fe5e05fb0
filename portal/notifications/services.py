"""Tell people what happened: an in-app message always, and an e-mail and a text message
through the outbox. The outbox is delivered by ``flask portal outbox deliver`` (a job), so
a slow mail server never slows a request and nothing is lost if it is down."""

from __future__ import annotations

import json
import logging
import smtplib
from datetime import date
from email.message import EmailMessage
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, format_date

from portal.accounts.models import User
from portal.core.clock import utcnow
from portal.core.i18n import lazy_gettext as _l
from portal.core.i18n import locale_of
from portal.extensions import db
from portal.notifications.models import Message, OutboxItem

log = logging.getLogger("portal.notifications")

# kind -> (subject, body); bodies take the params given to notify()
TEXTS = {
    "application_submitted": (
        _l("Application %(reference)s received"),
        _l(
            "We received your application %(reference)s. The departments are checking your "
            "household's data; you will hear from us by %(decide_by)s at the latest."
        ),
    ),
    "supplement_requested": (
        _l("A document is needed for %(reference)s"),
        _l("Please upload %(document)s by %(deadline)s. Reason: %(reason)s"),
    ),
    "ready_for_decision": (
        _l("Checks finished for %(reference)s"),
        _l("All departments have answered. A housing officer now decides on your application."),
    ),
    "approved": (
        _l("Application %(reference)s approved"),
        _l(
            "Your application was approved. It will be published for public notice; after the "
            "notice you enter the waiting list."
        ),
    ),
    "rejected": (
        _l("Application %(reference)s not approved"),
        _l(
            "Your application was not approved: %(reason)s You may ask for a second review until "
            "%(until)s."
        ),
    ),
    "notice_published": (
        _l("Public notice of %(reference)s"),
        _l("Your household is in the public notice until %(ends_on)s."),
    ),
    "qualified": (
        _l("You are qualified: %(reference)s"),
        _l("The public notice ended without objection. Your household is qualified from %(date)s."),
    ),
    "objection_resolved": (
        _l("Your objection has been answered"),
        _l("Your objection to %(reference)s was %(outcome)s: %(resolution)s"),
    ),
    "revoked": (
        _l("Qualification %(reference)s revoked"),
        _l("Your qualification was revoked: %(reason)s"),
    ),
    # Sent only as a text message (portal.accounts.reset), never as an in-app message.
    "password_reset_code": (
        _l("Your password reset code"),
        _l(
            "Your code to reset your housing portal password is %(code)s. It expires in 10 "
            "minutes. Never share it with anyone, not even staff. If you did not ask for it, "
            "ignore this message."
        ),
    ),
    # the waiting list (portal.waitlist.services)
    "waitlist_suspended": (
        _l("Waiting list: %(reference)s suspended"),
        _l(
            "At the yearly check of your household the departments' data no longer meet the "
            "conditions: %(reason)s Your place is kept until %(object_by)s: if the data are "
            "wrong, object on your waiting-list page by then, or your household leaves the list."
        ),
    ),
    "waitlist_restored": (
        _l("Waiting list: %(reference)s restored"),
        _l("Your objection was accepted; your household is back on the list: %(reason)s"),
    ),
    "waitlist_removed": (
        _l("Waiting list: %(reference)s removed"),
        _l(
            "Your household has been removed from the waiting list: %(reason)s Its members may "
            "apply again."
        ),
    ),
    # allocation rounds, to staff (portal.allocation.services)
    "round_proposed": (
        _l("Round %(reference)s awaits your approval"),
        _l("An allocation round was proposed. Check its units and groups, then decide on it."),
    ),
    "round_approved": (
        _l("Round %(reference)s approved"),
        _l("The round was approved with %(entrants)s households. Its entrant list is published."),
    ),
    "round_rejected": (
        _l("Round %(reference)s rejected"),
        _l("The round was rejected and its units are vacant again: %(reason)s"),
    ),
    "round_cancelled": (
        _l("Round %(reference)s cancelled"),
        _l("The round was cancelled and its units are vacant again: %(reason)s"),
    ),
    "round_drawn": (
        _l("Order drawn in round %(reference)s"),
        _l("The order of the round's households has been drawn and published."),
    ),
    # choosing a unit (portal.allocation.choosing)
    "choose_invited": (
        _l("Choose your home: %(round)s"),
        _l(
            "Your household is number %(position)s in the allocation round %(round)s and is "
            "invited to choose a unit. Households choose in order: when those before you have "
            "chosen, choose in the portal or at the housing office's counter by %(respond_by)s."
        ),
    ),
    "choose_turn": (
        _l("It is your turn to choose: %(round)s"),
        _l(
            "The households before you in %(round)s have chosen. Choose your unit in the portal "
            "or at the housing office's counter by %(respond_by)s."
        ),
    ),
    "unit_chosen": (
        _l("Your new home: %(unit)s"),
        _l(
            "You chose unit %(unit)s, %(address)s. Your lease %(lease)s runs from %(starts_on)s "
            "to %(ends_on)s; the rent is %(rent)s yuan a month."
        ),
    ),
    "choose_refused": (
        _l("Refusal recorded: %(round)s"),
        _l(
            "Your refusal in %(round)s is recorded. Your household keeps its place in the "
            "waiting list. Refusals without good reason so far: %(refusals)s of %(max)s; at "
            "%(max)s the household leaves the list."
        ),
    ),
    "choose_refused_excused": (
        _l("Refusal recorded: %(round)s"),
        _l(
            "Your refusal in %(round)s is recorded with a good reason: it does not count "
            "against you. Your household keeps its place in the waiting list."
        ),
    ),
    "choose_no_show": (
        _l("Your turn has passed: %(round)s"),
        _l(
            "Your household did not choose a unit in %(round)s in time, so the turn passed to "
            "the next household. Your household keeps its place in the waiting list."
        ),
    ),
    "choose_no_fitting_unit": (
        _l("No suitable unit left: %(round)s"),
        _l(
            "When your turn came in %(round)s, no unit suited to your household's size was "
            "left. Your household keeps its place in the waiting list."
        ),
    ),
    "choose_not_reached": (
        _l("Allocation round closed: %(round)s"),
        _l(
            "The round %(round)s has closed before your household's turn. Your household "
            "keeps its place in the waiting list."
        ),
    ),
    # credit records (portal.credit.services), to the subject
    "credit_recorded": (
        _l("A credit record about you: %(reference)s"),
        _l(
            "The housing office has confirmed a violation recorded against you: %(violation)s "
            "(%(grade)s, %(points)s points), in force from %(starts_on)s and published until "
            "%(publish_until)s. If you think it is wrong, object on your credit page by "
            "%(object_by)s, with your reasons and any documents."
        ),
    ),
    "credit_objection_granted": (
        _l("Your objection to %(reference)s is granted"),
        _l("The record is annulled and no longer has any effect: %(reason)s"),
    ),
    "credit_objection_refused": (
        _l("Your objection to %(reference)s is refused"),
        _l("The record stays in force: %(reason)s"),
    ),
    "credit_repair_granted": (
        _l("Credit repaired: %(reference)s"),
        _l(
            "Your request for credit repair is granted: the record is no longer published and "
            "no longer bars you. It stays in your history. %(reason)s"
        ),
    ),
    "credit_repair_refused": (
        _l("Credit repair refused: %(reference)s"),
        _l("Your request for credit repair is refused; the record stays in force: %(reason)s"),
    ),
    "credit_expired": (
        _l("Credit record %(reference)s has expired"),
        _l(
            "Its publication and any ban have ended; it no longer has any effect. It stays in "
            "your history."
        ),
    ),
    "waitlist_credit_suspended": (
        _l("Waiting list: %(reference)s suspended"),
        _l(
            "Your household's place on the waiting list is suspended because a credit record "
            "of a household member (%(record)s) is in force. The place comes back when the "
            "record is annulled, repaired or expires; the person concerned can see it, and "
            "object to it, on their credit page."
        ),
    ),
    "waitlist_credit_restored": (
        _l("Waiting list: %(reference)s restored"),
        _l(
            "Credit record %(record)s no longer suspends your household: its place on the "
            "waiting list is back."
        ),
    ),
    # credit records, to the officers of the tenant's district
    "credit_exit_case": (
        _l("Exit case %(case)s: lease %(lease)s"),
        _l(
            "Credit record %(reference)s (%(violation)s) of a tenant of lease %(lease)s is in "
            "force; its measures include cancelling the lease and taking the home back. Exit "
            "case %(case)s is open for the household."
        ),
    ),
    # rent and exit (portal.tenancy.rent, portal.tenancy.exits), to the tenant
    "rent_paid": (
        _l("Rent payment received: lease %(lease)s"),
        _l("We received %(amount)s yuan of rent, paid on %(paid_on)s. %(balance)s"),
    ),
    "rent_reminder": (
        _l("Rent unpaid: lease %(lease)s"),
        _l(
            "The rent of %(months)s is past its due day and unpaid. In all, %(count)s months "
            "are unpaid: %(amount)s yuan. Please pay at the housing office or by the bank's "
            "collection. %(limit)s months unpaid in total end the tenancy and make a credit "
            "record."
        ),
    ),
    "rent_market": (
        _l("Market rent from %(month)s: lease %(lease)s"),
        _l(
            "After the annual review your household pays the market rent from %(month)s: "
            "%(amount)s yuan a month."
        ),
    ),
    "exit_opened": (
        _l("Exit case %(reference)s: lease %(lease)s"),
        _l(
            "An exit case is open for your lease (%(reason)s). Please move out by "
            "%(move_out_by)s and arrange the check-out of the home with the housing office; "
            "the rent is due as before until then. After that day the rent rises to the "
            "market rent and more, and not leaving is recorded as a violation."
        ),
    ),
    "exit_overdue": (
        _l("Moving period over: %(reference)s"),
        _l(
            "The moving period ended on %(move_out_by)s and the home has not been handed "
            "back. From now the rent is %(factor)s times the market rent, %(step1)s times "
            "after 6 months and %(step2)s times after 12. Refusing to vacate is recorded as "
            "a violation of credit."
        ),
    ),
    "exit_settled": (
        _l("Deposit settled: %(reference)s"),
        _l(
            "Your deposit of %(deposit)s yuan is settled: unpaid rent %(arrears)s yuan, "
            "damages %(damages)s yuan. %(outcome)s"
        ),
    ),
    "exit_cancelled": (
        _l("Exit case %(reference)s cancelled"),
        _l("The exit case is cancelled and your lease continues: %(reason)s"),
    ),
    # to the officers of the district
    "exit_notice_given": (
        _l("Notice to leave: lease %(lease)s"),
        _l(
            "The household of lease %(lease)s gives notice to leave by %(move_out_by)s "
            "(exit case %(reference)s). Arrange the check-out of the home."
        ),
    ),
    # annual reviews, change reports and lease renewals (portal.reviews), to the household
    "review_opened": (
        _l("Review %(reference)s has begun (%(kind)s)"),
        _l(
            "Your household's data are being checked again against the departments' records, "
            "as for your application (%(kind)s). Until %(answer_by)s you may tell the housing "
            "office anything it should know, on your review page. It decides by %(due_on)s and "
            "tells you."
        ),
    ),
    "review_decided": (
        _l("Review %(reference)s decided: %(outcome)s"),
        _l("The housing office decided: %(outcome)s. Reason: %(reason)s %(effect)s"),
    ),
    "renewal_asked": (
        _l("Your lease %(lease)s ends on %(ends_on)s: do you renew it?"),
        _l(
            "Please tell us by %(answer_by)s, on your review page, whether you want to renew "
            "your lease. If you renew, your household's data are checked again as at the annual "
            "review. Without an answer by the end of the lease, the household must move out."
        ),
    ),
    # rental subsidies (portal.subsidy.services), to the household
    "subsidy_awarded": (
        _l("Rental subsidy %(reference)s awarded"),
        _l(
            "Your household is awarded a rental subsidy, payable from %(month)s. To be paid, "
            "give the rent you pay each month and the bank account to pay it to on your "
            "subsidy page."
        ),
    ),
    "subsidy_tenant": (
        _l("Rental subsidy %(reference)s pays part of your rent"),
        _l(
            "From %(month)s your household's rental subsidy is not paid to a bank: it pays "
            "part of your public rental home's rent, at most the whole rent."
        ),
    ),
    "subsidy_ended": (
        _l("Rental subsidy %(reference)s ends"),
        _l("Your rental subsidy is not paid from %(month)s. %(reason)s"),
    ),
    "subsidy_suspended": (
        _l("Rental subsidy %(reference)s suspended"),
        _l(
            "Your rental subsidy is not paid while your household's place on the waiting "
            "list is suspended. It is paid again from the month after the place comes back, "
            "without the months suspended."
        ),
    ),
    "subsidy_resumed": (
        _l("Rental subsidy %(reference)s paid again"),
        _l("Your rental subsidy is paid again from %(month)s."),
    ),
    "subsidy_lapsed": (
        _l("Rental subsidy %(reference)s has lapsed"),
        _l(
            "Your rental subsidy was valid until %(date)s and its annual review is not "
            "finished, so it is not paid for now. Once the review is passed it is paid again "
            "from the following month, without the months in between."
        ),
    ),
    "subsidy_recovery": (
        _l("Rental subsidy %(reference)s: an overpayment is recovered"),
        _l(
            "A change in your household reported after the months were paid means %(amount)s "
            "yuan was paid too much between %(first)s and %(last)s. It is deducted from your "
            "next payments; your subsidy page shows how, month by month."
        ),
    ),
}


def _render(kind: str, params: dict[str, Any], locale: str) -> tuple[str, str]:
    subject, body = TEXTS[kind]
    with force_locale(locale):
        shown = {k: _localized(v) for k, v in params.items()}
        return str(subject) % shown, str(body) % shown


def _localized(value: str) -> str:
    """Dates are stored as ISO text and shown in the reader's own format."""
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return format_date(date.fromisoformat(value), "long")
        except ValueError:
            return value
    return value


def message_text(message: Message, locale: str) -> tuple[str, str]:
    """Subject and body of an in-app message, in the reader's language."""
    return _render(message.kind, json.loads(message.params_json), locale)


def notify(
    user: User,
    kind: str,
    params: dict[str, Any],
    link: str | None = None,
    *,
    email: str | None = None,
    mobile: str | None = None,
) -> Message:
    """An in-app message, plus e-mail (if the person gave one) and SMS through the outbox.

    ``email`` and ``mobile`` are the contact the person gave for this case (an application's
    own details); without them, the account's are used."""
    params = {k: str(v) for k, v in params.items()}
    msg = Message(user_id=user.id, kind=kind, params_json=json.dumps(params), link=link)
    db.session.add(msg)
    subject, body = _render(kind, params, locale_of(user))
    to_email, to_mobile = email or user.email, mobile or user.mobile
    if to_email:
        db.session.add(OutboxItem(channel="email", recipient=to_email, subject=subject, body=body))
    if to_mobile:
        db.session.add(OutboxItem(channel="sms", recipient=to_mobile, subject=subject, body=body))
    db.session.flush()
    return msg


def unread_count(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Message)
        .where(Message.user_id == user.id, Message.read_at.is_(None))
    )


def mark_read(user: User, message: Message) -> None:
    if message.user_id == user.id and message.read_at is None:
        message.read_at = utcnow()


class SmsGateway(Protocol):
    def send(self, mobile: str, text: str) -> None: ...


class LoggingSmsGateway:
    """The default: writes the text message to the log (no SMS contract configured)."""

    def send(self, mobile: str, text: str) -> None:
        log.info("sms to %s****%s: %s", mobile[:3], mobile[-4:], text)


class MailSender(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class LoggingMailSender:
    def send(self, to: str, subject: str, body: str) -> None:
        log.info("mail to %s: %s", to.split("@")[-1], subject)


class SmtpMailSender:
    def __init__(self, host: str, port: int, sender: str, user: str | None, password: str | None):
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password = user, password

    def send(self, to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)


def _senders() -> tuple[MailSender, SmsGateway]:
    cfg = current_app.config
    mail = current_app.extensions.get("portal.mail")
    if mail is None:
        mail = (
            SmtpMailSender(
                cfg["SMTP_HOST"],
                cfg.get("SMTP_PORT", 587),
                cfg["MAIL_FROM"],
                cfg.get("SMTP_USER"),
                cfg.get("SMTP_PASSWORD"),
            )
            if cfg.get("SMTP_HOST")
            else LoggingMailSender()
        )
    sms = current_app.extensions.get("portal.sms") or LoggingSmsGateway()
    return mail, sms


def deliver_outbox(limit: int = 500, max_attempts: int = 5) -> tuple[int, int]:
    """Send what is due; returns ``(sent, failed)``. Safe to run again at any time."""
    mail, sms = _senders()
    sent = failed = 0
    items = db.session.scalars(
        sa.select(OutboxItem)
        .where(OutboxItem.sent_at.is_(None), OutboxItem.attempts < max_attempts)
        .order_by(OutboxItem.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for item in items:
        item.attempts += 1
        try:
            if item.channel == "email":
                mail.send(item.recipient, item.subject, item.body)
            else:
                sms.send(item.recipient, item.body)
        except Exception as exc:  # any delivery failure is retried later
            item.last_error = str(exc)[:300]
            failed += 1
        else:
            item.sent_at = utcnow()
            sent += 1
    db.session.flush()
    return sent, failed

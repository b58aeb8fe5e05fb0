"""A person's messages: the inbox, and marking a message read."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.core.access import signed_in
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.web import local_url
from portal.extensions import db
from portal.notifications.models import Message
from portal.notifications.services import mark_read, message_text, unread_count

bp = Blueprint("notifications", __name__)

PAGE_SIZE = 20


class ReadForm(FlaskForm):
    """The "mark read" button: CSRF only."""


@bp.app_context_processor
def _unread_messages() -> dict:
    """``unread_messages`` for the navigation: one COUNT, only for a signed-in person."""
    if current_user and current_user.is_authenticated:
        return {"unread_messages": unread_count(current_user)}
    return {"unread_messages": 0}


def _own(user) -> sa.ColumnElement[bool]:
    return Message.user_id == user.id


@bp.get("/messages")
@signed_in
def inbox():
    """The person's messages, newest first, keyset-paginated (``before`` a message id)."""
    user = current_user._get_current_object()
    before = request.args.get("before", type=int)
    stmt = sa.select(Message).where(_own(user)).order_by(Message.id.desc()).limit(PAGE_SIZE + 1)
    if before:
        stmt = stmt.where(Message.id < before)
    rows = db.session.scalars(stmt).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    locale = current_locale()
    messages = []
    for m in rows:
        subject, body = message_text(m, locale)
        messages.append({"message": m, "subject": subject, "body": body})
    return render_template(
        "notifications/inbox.html",
        messages=messages,
        form=ReadForm(formdata=None),
        next_url=url_for(".inbox", before=rows[-1].id) if more else None,
        first_page=not before,
    )


def _safe_link(link: str | None) -> str | None:
    """A message's link, only if it stays on this site."""
    return local_url(link)


@bp.post("/messages/<int:message_id>/read")
@signed_in
def read(message_id: int):
    """Mark one's own message read, then open what it is about (or return to the inbox)."""
    user = current_user._get_current_object()
    message = load_in_scope(Message, message_id, _own(user), user)
    mark_read(user, message)
    return redirect(_safe_link(message.link) or url_for(".inbox"))

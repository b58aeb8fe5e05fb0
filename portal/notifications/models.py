"""In-app messages and the outbox of e-mails and text messages."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.clock import utcnow
from portal.core.db import Encrypted, UTCDateTime
from portal.extensions import db


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    params_json: Mapped[str] = mapped_column(sa.Text, default="{}", nullable=False)
    link: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (sa.Index("ix_messages_user_created", "user_id", "created_at"),)


class OutboxItem(db.Model):
    """An e-mail or text message to send; the job marks it sent or counts the attempt."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8), nullable=False, comment="email or sms")
    recipient: Mapped[str] = mapped_column(Encrypted("outbox.recipient"), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    body: Mapped[str] = mapped_column(
        Encrypted("outbox.body"), nullable=False, comment="may hold a one-time code: encrypted"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    last_error: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)

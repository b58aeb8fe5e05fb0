"""Tamper-evident audit log (SECURITY.md E1, E2).

Every event is one row whose hash covers its own fields and the previous row's hash, so that
altering, inserting or deleting a row breaks the chain from that row on. The table refuses
UPDATE and DELETE through database triggers (see the migration); :func:`verify` finds the
first row that no longer matches. Appends are serialised (an advisory lock on PostgreSQL,
the single writer on SQLite) so concurrent requests never fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.extensions import db

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x5055_4449_5400  # arbitrary constant naming the audit chain's advisory lock


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(
        nullable=True, comment="users.id; kept if the user goes"
    )
    actor_label: Mapped[str] = mapped_column(
        sa.String(120), nullable=False, comment="role:name or client"
    )
    ip: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    event: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    object_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    result: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    details: Mapped[str] = mapped_column(sa.Text, nullable=False, comment="canonical JSON")
    prev_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)

    __table_args__ = (sa.Index("ix_audit_events_object", "object_type", "object_id"),)

    def compute_hash(self) -> str:
        return chain_hash(self.__dict__)

    @property
    def details_dict(self) -> dict[str, Any]:
        return json.loads(self.details)


HASHED_FIELDS = (
    "at",
    "actor_id",
    "actor_label",
    "ip",
    "event",
    "object_type",
    "object_id",
    "result",
    "details",
    "prev_hash",
)


def chain_hash(row: Any) -> str:
    """SHA-256 over every field but the id and the hash itself, in a canonical JSON form."""
    values = [row[f] for f in HASHED_FIELDS]
    values[0] = values[0].isoformat(timespec="microseconds")
    payload = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(payload).hexdigest()


def _actor_of(actor) -> tuple[int | None, str]:
    if actor is None:
        return None, "anonymous"
    if isinstance(actor, str):
        return None, actor[:120]
    return getattr(actor, "id", None), getattr(actor, "audit_label", str(actor))[:120]


def record(
    event: str,
    *,
    actor=None,
    obj=None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    result: str = "success",
    **details: Any,
) -> AuditEvent:
    """Append one event to the chain (flushed, committed with the request).

    ``details`` must never hold a whole ID number: callers pass masked values.
    """
    if obj is not None:
        object_type = object_type or obj.__class__.__tablename__
        object_id = object_id if object_id is not None else obj.id
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
    prev = session.execute(
        sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    actor_id, actor_label = _actor_of(actor)
    ev = AuditEvent(
        at=utcnow(),
        actor_id=actor_id,
        actor_label=actor_label,
        ip=request.remote_addr if has_request_context() else None,
        event=event,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        result=result,
        details=json.dumps(details, ensure_ascii=False, sort_keys=True, default=str),
        prev_hash=prev or GENESIS,
    )
    ev.hash = ev.compute_hash()
    session.add(ev)
    session.flush()
    return ev


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify(batch: int = 5000) -> VerifyResult:
    """Walk the chain in order and name the first row that was altered or whose link broke.

    Rows are read as plain tuples in keyset-paginated batches, so memory stays flat however
    long the log grows.
    """
    table = AuditEvent.__table__
    prev, checked, last_id = GENESIS, 0, 0
    while True:
        rows = (
            db.session.execute(
                sa.select(table).where(table.c.id > last_id).order_by(table.c.id).limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return VerifyResult(True, checked)
        for row in rows:
            if row["prev_hash"] != prev:
                return VerifyResult(False, checked, row["id"], "link")
            if chain_hash(row) != row["hash"]:
                return VerifyResult(False, checked, row["id"], "content")
            prev = row["hash"]
            checked += 1
        last_id = rows[-1]["id"]

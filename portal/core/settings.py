"""Versioned rule settings (DESIGN.md convention 5).

A rule set (``eligibility``, later ``subsidy``, ``queue`` …) is a JSON document with a version
and an effective date. Managers add versions; nothing is edited in place, so every decision
can name the version that decided it. Defaults come from RULES.md and are used until a
manager stores a version.
"""

from __future__ import annotations

import importlib
import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.db import UTCDateTime
from portal.extensions import db

# Where each rule set's defaults (RULES.md) are defined, as module:attribute.
RULE_SETS = {
    "eligibility": "portal.applications.rules:DEFAULTS",
    "waitlist": "portal.waitlist.rules:DEFAULTS",
    "subsidy": "portal.subsidy.rules:DEFAULTS",
    "tenancy": "portal.tenancy.rules:DEFAULTS",
}


def defaults(key: str) -> dict[str, Any]:
    """The RULES.md defaults of a rule set."""
    module, attr = RULE_SETS[key].split(":")
    return dict(getattr(importlib.import_module(module), attr))


class RuleVersion(db.Model):
    __tablename__ = "rule_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    version: Mapped[int] = mapped_column(nullable=False)
    effective_from: Mapped[date] = mapped_column(sa.Date, nullable=False)
    values_json: Mapped[str] = mapped_column(sa.Text, nullable=False)
    note: Mapped[str] = mapped_column(sa.String(500), default="", nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (sa.UniqueConstraint("key", "version"),)

    @property
    def values(self) -> dict[str, Any]:
        return json.loads(self.values_json)

    @property
    def label(self) -> str:
        return f"{self.key} v{self.version} ({self.effective_from.isoformat()})"


def current_version(key: str, on: date | None = None) -> RuleVersion:
    """The version in force on ``on`` (today by default); version 1 holds the defaults and is
    created on first use, so decisions always point at a stored row."""
    on = on or today()
    row = db.session.scalars(
        sa.select(RuleVersion)
        .where(RuleVersion.key == key, RuleVersion.effective_from <= on)
        .order_by(RuleVersion.effective_from.desc(), RuleVersion.version.desc())
        .limit(1)
    ).first()
    if row is not None:
        return row
    existing = db.session.scalar(
        sa.select(sa.func.count()).select_from(RuleVersion).where(RuleVersion.key == key)
    )
    if existing:  # only future versions exist: the defaults apply until then
        raise LookupError(f"no version of {key} is in force on {on}")
    row = RuleVersion(
        key=key,
        version=1,
        effective_from=date(2000, 1, 1),
        values_json=json.dumps(defaults(key), sort_keys=True),
        note="defaults (RULES.md)",
    )
    db.session.add(row)
    db.session.flush()
    return row


def add_version(
    actor, key: str, values: dict[str, Any], effective_from: date, note: str = ""
) -> RuleVersion:
    """Store a new version of a rule set (managers)."""
    from portal.accounts.roles import Role
    from portal.core.errors import Forbidden

    if getattr(actor, "role", None) is not Role.MANAGER:
        raise Forbidden()
    current_version(key)  # make sure version 1 exists
    last = db.session.scalar(
        sa.select(sa.func.max(RuleVersion.version)).where(RuleVersion.key == key)
    )
    merged = {**defaults(key), **values}
    row = RuleVersion(
        key=key,
        version=(last or 0) + 1,
        effective_from=effective_from,
        values_json=json.dumps(merged, sort_keys=True),
        note=note[:500],
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("rules.new_version", actor=actor, obj=row, key=key, version=row.version)
    return row

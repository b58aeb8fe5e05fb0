"""Declarative base, naming conventions and column types shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, DateTime, LargeBinary, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that Alembic can drop and alter them on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime, stored in UTC and returned aware on every database.

    SQLite has no timezone type, so values are normalised to UTC on the way in and marked
    UTC on the way out; PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use portal.core.clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Encrypted(TypeDecorator):
    """A string encrypted at rest with AES-GCM (SECURITY.md D1); ``purpose`` binds the column."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect):
        if value is None:
            return None
        from portal.core.crypto import protector

        return protector().encrypt(value, self.purpose)

    def process_result_value(self, value: bytes | None, dialect):
        if value is None:
            return None
        from portal.core.crypto import protector

        return protector().decrypt(bytes(value), self.purpose)


class Hundredths(TypeDecorator):
    """An exact decimal with two places (yuan and fen, square metres), stored as an integer
    count of hundredths: exact on every database, where SQLite's NUMERIC would go through
    floating point. Values with more places are rounded half up."""

    impl = BigInteger
    cache_ok = True
    UNIT = Decimal("0.01")

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money and areas are Decimal, never float")
        return int((Decimal(value) / self.UNIT).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(int(value)) * self.UNIT).quantize(self.UNIT)


# Indexes on expressions (``points DESC``) that Alembic cannot compare: written by hand in
# their revision and left out of autogenerate, which would otherwise report them as changed.
HAND_WRITTEN_INDEXES = frozenset({"ix_queue_entries_order"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic hook: leave the hand-written expression indexes to their revision."""
    return not (type_ == "index" and name in HAND_WRITTEN_INDEXES)


def render_item(type_, obj, autogen_context):
    """Alembic hook: write our TypeDecorators as their plain SQL types, so revisions do not
    depend on application code that may change later."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Encrypted):
        return "sa.LargeBinary()"
    if type_ == "type" and isinstance(obj, Hundredths):
        return "sa.BigInteger()"
    return False

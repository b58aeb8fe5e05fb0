"""Load, authorize, act (DESIGN.md convention 2; SECURITY.md B1).

The scope is part of the query. A record outside the user's scope answers exactly like a
missing one (404), and the attempt is written to the audit log.
"""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from flask import abort

from portal.core import audit
from portal.extensions import db

T = TypeVar("T")


def officer_district_ids(user) -> list[int]:
    """The districts an officer works in; nobody else has any (SECURITY.md B1)."""
    from portal.accounts.roles import Role

    return [d.id for d in user.districts] if user.role is Role.OFFICER else []


def lock_row(model: type[T], row_id: int) -> T:
    """Re-read a row under a lock until the transaction ends (SELECT … FOR UPDATE), its
    state read afresh: two people acting on it at once take turns, and the second sees what
    the first did."""
    return db.session.scalars(
        sa.select(model)
        .where(model.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def load_in_scope(model: type[T], object_id: int, scope: sa.ColumnElement[bool], actor) -> T:
    """The record with ``object_id`` if ``scope`` admits it; otherwise 404."""
    row = db.session.scalars(sa.select(model).where(model.id == object_id, scope)).one_or_none()
    if row is not None:
        return row
    if db.session.scalar(sa.select(model.id).where(model.id == object_id)) is not None:
        audit.record(
            "access.out_of_scope",
            actor=actor,
            object_type=model.__tablename__,
            object_id=object_id,
            result="denied",
        )
    abort(404)

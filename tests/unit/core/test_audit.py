"""The audit log is hash-chained (SECURITY.md E2) and append-only."""

import pytest
import sqlalchemy as sa

from portal.core import audit
from portal.core.audit import AuditEvent


def _tamper(db, sql: str) -> None:
    """What a database administrator could do by hand: lift the guard, then change a row."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    else:
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
    conn.exec_driver_sql(sql)
    db.session.expire_all()


def test_events_are_chained(db):
    a = audit.record("test.one", actor="cli", value=1)
    b = audit.record("test.two", actor="cli", value=2)
    assert b.prev_hash == a.hash
    assert a.hash == a.compute_hash()
    result = audit.verify()
    assert result.ok
    assert result.checked >= 2


def test_verify_names_the_altered_row(db):
    events = [audit.record("test.event", actor="cli", n=i) for i in range(5)]
    target = events[2]
    _tamper(db, f"UPDATE audit_events SET result = 'denied' WHERE id = {target.id}")
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_id == target.id
    assert result.reason == "content"


def test_verify_notices_a_deleted_row(db):
    events = [audit.record("test.event", actor="cli", n=i) for i in range(4)]
    _tamper(db, f"DELETE FROM audit_events WHERE id = {events[1].id}")
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_id == events[2].id
    assert result.reason == "link"


def test_the_table_refuses_updates_and_deletes(db):
    ev = audit.record("test.event", actor="cli")
    for sql in (
        f"UPDATE audit_events SET result = 'x' WHERE id = {ev.id}",
        f"DELETE FROM audit_events WHERE id = {ev.id}",
    ):
        with pytest.raises(sa.exc.DBAPIError), db.session.begin_nested():
            db.session.execute(sa.text(sql))
    assert db.session.get(AuditEvent, ev.id).result == "success"


def test_event_times_carry_an_offset(db):
    ev = audit.record("test.event", actor="cli")
    db.session.expire(ev)
    assert ev.at.utcoffset() is not None

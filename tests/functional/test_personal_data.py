"""Personal data: encrypted at rest with a blind index (SECURITY.md D1), masked by default
and revealed only with an audited reason (D3)."""

import re

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.crypto import DataProtector
from portal.core.identifiers import is_valid_id_number
from tests.factories import PASSWORD, ResidentFactory
from tests.factories.fixtures import make_staff

# an 18-character number standing alone (not inside a hex digest such as a hash)
ID_RE = re.compile(r"(?<![0-9a-fA-F])\d{17}[\dXx](?![0-9a-fA-F])")
MASK_RE = re.compile(r"^\d{4}\*{10}[\dX]{4}$")


def dump_all_text(db) -> str:
    """Every value of every table, as a database dump would show it."""
    parts = []
    meta = sa.MetaData()
    meta.reflect(bind=db.session.connection())
    for table in meta.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    value = bytes(value).decode("latin-1")
                parts.append(str(value))
    return "\n".join(parts)


def test_database_dump_holds_no_id_number(client, db):
    residents = ResidentFactory.create_batch(5)
    client.post_form("/login", {"identifier": residents[0].id_number, "password": PASSWORD})
    dump = dump_all_text(db)
    found = [m for m in ID_RE.findall(dump) if is_valid_id_number(m.upper())]
    assert found == []
    for r in residents:
        assert r.id_number not in dump
        assert r.mobile not in dump


def test_ciphertexts_differ_and_are_bound_to_their_column(app):
    p = DataProtector("a test master key that is long enough")
    a, b = (
        p.encrypt("450302199001011232", "users.id_number"),
        p.encrypt("450302199001011232", "users.id_number"),
    )
    assert a != b
    assert p.decrypt(a, "users.id_number") == "450302199001011232"
    with pytest.raises(Exception):  # noqa: B017, PT011 - cryptography raises InvalidTag
        p.decrypt(a, "users.mobile")
    assert p.blind_index("x", "id_number") == p.blind_index("x", "id_number")
    assert p.blind_index("x", "id_number") != p.blind_index("x", "mobile")
    other = DataProtector("another master key, quite long too")
    assert other.blind_index("x", "id_number") != p.blind_index("x", "id_number")


def test_lookup_by_blind_index(db):
    from portal.accounts.services import find_by_identifier

    r = ResidentFactory()
    assert find_by_identifier(r.id_number) == r
    assert find_by_identifier(r.id_number.lower()) == r
    assert find_by_identifier(r.mobile) == r


def test_pages_show_masked_numbers(staff_client):
    residents = ResidentFactory.create_batch(3)
    client, _ = staff_client(Role.SECURITY)
    html = client.get("/admin/accounts").get_data(as_text=True)
    for r in residents:
        assert r.id_number not in html
        assert f"{r.id_number[:4]}{'*' * 10}{r.id_number[-4:]}" in html
    html = client.get(f"/admin/accounts/{residents[0].id}").get_data(as_text=True)
    assert residents[0].id_number not in html
    assert residents[0].mobile not in html


def test_api_shows_masked_numbers(client, resident):
    token = client.post(
        "/api/v1/auth/token", json={"identifier": resident.mobile, "password": PASSWORD}
    ).get_json()["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert MASK_RE.match(me["id_number"])
    assert me["mobile"] == resident.mobile[:3] + "****" + resident.mobile[-4:]


def test_reveal_needs_a_reason_and_is_audited(staff_client, db, resident):
    client, security = staff_client(Role.SECURITY)
    resp = client.post_form(f"/admin/accounts/{resident.id}/reveal", {"reason": ""})
    assert resp.status_code == 422
    assert resident.id_number not in resp.get_data(as_text=True)
    resp = client.post_form(
        f"/admin/accounts/{resident.id}/reveal", {"reason": "caller verified at counter"}
    )
    assert resp.status_code == 200
    assert resident.id_number in resp.get_data(as_text=True)
    [event] = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "pii.reveal")
    ).all()
    assert event.actor_id == security.id
    assert event.object_id == str(resident.id)
    assert "caller verified at counter" in event.details
    assert resident.id_number not in event.details


def test_only_the_security_officer_may_reveal(staff_client, resident):
    for role in (Role.ADMIN, Role.OFFICER, Role.AUDITOR):
        client, _ = staff_client(role)
        resp = client.post_form(
            f"/admin/accounts/{resident.id}/reveal", {"reason": "just curious, honestly"}
        )
        assert resp.status_code == 403


def test_user_rows_reject_a_staff_identity_for_residents(db):
    row = User(role=Role.RESIDENT, real_name="无证", password_hash="x", username="nobody")
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(row)
    make_staff(Role.MANAGER)  # the session is still usable

"""Administrators register partner agencies' API clients on a page."""

import re

import sqlalchemy as sa

from portal.accounts.models import ApiClient
from portal.accounts.roles import Role
from portal.core.identifiers import make_credit_code

CODE = make_credit_code("11450300MB1234567")


def test_administrator_registers_a_partner_which_gets_a_token(staff_client, client, db):
    admin, _ = staff_client(Role.ADMIN)
    resp = admin.post_form(
        "/admin/clients",
        {"name": "桂林市中级人民法院", "credit_code": CODE, "scopes": "credit.read"},
    )
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    client_id = re.search(r"<code>(pc_[0-9a-f]+)</code>", html).group(1)
    secret = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)
    token = client.post(
        "/api/v1/auth/client-token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert token.status_code == 201
    bearer = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    assert client.get("/api/v1/me", headers=bearer).get_json()["scopes"] == ["credit.read"]
    assert secret not in admin.get("/admin/clients").get_data(as_text=True)  # shown once

    row = db.session.scalars(sa.select(ApiClient).where(ApiClient.client_id == client_id)).one()
    assert admin.post_form(f"/admin/clients/{row.id}/disable").status_code == 302
    assert client.get("/api/v1/me", headers=bearer).status_code == 401  # its tokens end


def test_an_invalid_credit_code_is_refused_with_the_reason(staff_client, db):
    admin, _ = staff_client(Role.ADMIN, locale="en")
    resp = admin.post_form("/admin/clients", {"name": "某机构", "credit_code": CODE[:-1] + "0"})
    assert resp.status_code == 422
    assert "unified social credit code is not valid" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiClient)) == 0


def test_only_administrators_manage_partners(staff_client):
    for role in (Role.SECURITY, Role.MANAGER, Role.AUDITOR):
        c, _ = staff_client(role)
        assert c.get("/admin/clients").status_code == 403

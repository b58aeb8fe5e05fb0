"""Fixtures built on the factories: accounts and signed-in clients of every role."""

from __future__ import annotations

import pyotp
import pytest

from portal.accounts.roles import Role
from portal.verification.departments import Department
from tests.factories import PASSWORD, ResidentFactory, StaffFactory


def totp_now(user) -> str:
    return pyotp.TOTP(user.totp_secret).now()


def sign_in(client, identifier: str, password: str = PASSWORD):
    return client.post_form("/login", {"identifier": identifier, "password": password})


def sign_in_staff(client, user, password: str = PASSWORD):
    resp = sign_in(client, user.username, password)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    resp = client.post_form("/login/totp", {"code": totp_now(user)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp


def make_staff(role: Role, **kwargs):
    if role is Role.REVIEWER:
        kwargs.setdefault("department", Department.CIVIL_AFFAIRS)
    return StaffFactory(role=role, **kwargs)


@pytest.fixture
def resident():
    return ResidentFactory()


@pytest.fixture
def resident_client(client, resident):
    resp = sign_in(client, resident.mobile)
    assert resp.status_code == 302
    return client


@pytest.fixture
def staff_client(app):
    """``staff_client(role)`` -> (client signed in as a new staff member of that role, user)."""

    def make(role: Role, **kwargs):
        user = make_staff(role, **kwargs)
        c = app.test_client()
        sign_in_staff(c, user)
        return c, user

    return make

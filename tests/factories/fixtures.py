"""Fixtures built on the factories: accounts and signed-in clients of every role, and the
browsers of the page tests (in English, signed in)."""

from __future__ import annotations

import html
import json

import pyotp
import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.extensions import db
from portal.notifications.models import Message
from portal.verification.departments import Department
from tests.factories import PASSWORD, DistrictFactory, ResidentFactory, StaffFactory


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


@pytest.fixture
def district(db):
    """A new district (a test module may define its own ``district``)."""
    return DistrictFactory()


@pytest.fixture
def officer(district):
    """An officer of ``district``."""
    return make_staff(Role.OFFICER, districts=[district])


def messages(user, kind: str) -> list[dict]:
    """The values of each message of ``kind`` that ``user`` was sent, oldest first."""
    return [
        json.loads(m.params_json)
        for m in db.session.scalars(
            sa.select(Message)
            .where(Message.user_id == user.id, Message.kind == kind)
            .order_by(Message.id)
        )
    ]


# --- browsers for the page tests -------------------------------------------------------------


def english(client):
    """``client``, reading the pages in English (the language cookie)."""
    client.set_cookie("locale", "en", domain="portal.test")
    return client


def staff_browser(app, user):
    """A new client in English, signed in as the staff member ``user`` (password and code)."""
    c = english(app.test_client())
    sign_in_staff(c, user)
    return c


def resident_browser(app, resident):
    """A new client in English, signed in as ``resident``."""
    c = english(app.test_client())
    assert sign_in(c, resident.mobile).status_code == 302
    return c


def page_text(resp) -> str:
    """A page's HTML with its character references read (``&#34;`` as ``"``)."""
    return html.unescape(resp.get_data(as_text=True))

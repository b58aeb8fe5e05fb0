"""``flask portal ...``: the operators' commands (demo data, staff and partner accounts, the
audit chain). Commands commit, so each test gets a fresh application bound to a throwaway
SQLite file instead of the rolled-back test transaction."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import gettext
from flask_migrate import upgrade

from portal import create_app
from portal.accounts.models import ApiClient, District, User
from portal.accounts.roles import Role
from portal.config import TestConfig
from portal.core.audit import AuditEvent
from portal.core.clock import utcnow
from portal.core.identifiers import make_credit_code
from portal.demo import DEMO_APPLICANTS, DEMO_SUBSIDY_APPLICANTS
from portal.extensions import db
from tests.conftest import PortalClient

pytestmark = pytest.mark.no_transaction

CREDIT_CODE = make_credit_code("91450300MA5L12345")
BAD_CREDIT_CODE = CREDIT_CODE[:-1] + ("0" if CREDIT_CODE[-1] != "0" else "1")


@pytest.fixture
def cli_app(tmp_path):
    app = create_app(
        TestConfig,
        instance_path=str(tmp_path / "inst"),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'cli.db'}",
    )
    app.test_client_class = PortalClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def run(cli_app):
    runner = cli_app.test_cli_runner()

    def invoke(*args: str):
        return runner.invoke(args=["portal", *args])

    return invoke


def scalar(app, stmt):
    with app.app_context():
        return db.session.scalar(stmt)


def count(app, model, *where) -> int:
    return scalar(app, sa.select(sa.func.count()).select_from(model).where(*where))


def counts(app) -> tuple[int, int, int]:
    return (
        count(app, District),
        count(app, User, User.role != Role.RESIDENT),
        count(app, User, User.role == Role.RESIDENT),
    )


def demo_credentials(app) -> dict:
    return json.loads((Path(app.instance_path) / "demo-accounts.json").read_text())


def said(app, output: str, msgid: str) -> bool:
    """Whether the output holds the message, in English or in the default language."""
    with app.test_request_context():
        return msgid in output or str(gettext(msgid)) in output


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


# --- demo ------------------------------------------------------------------------------


def test_demo_loads_the_city_and_prints_the_accounts(cli_app, run):
    out = ok(run("demo"))
    assert counts(cli_app) == (18, 15, 5 + DEMO_APPLICANTS + DEMO_SUBSIDY_APPLICANTS)
    creds = demo_credentials(cli_app)
    assert f"password for all: {creds['password']}" in out
    assert len(creds["totp"]) == 15
    for username, secret in creds["totp"].items():
        assert re.search(rf"{re.escape(username)}\s+\S+\s+TOTP secret {secret}", out), username

    with cli_app.app_context():
        staff = db.session.scalars(sa.select(User).where(User.role != Role.RESIDENT)).all()
        roles = [u.role for u in staff]
        assert set(roles) == {r for r in Role if r.is_staff}
        reviewers = [u for u in staff if u.role is Role.REVIEWER]
        assert len({u.department for u in reviewers}) == len(reviewers) == 8
        assert all(u.is_demo and u.totp_confirmed_at is not None for u in staff)
        assert db.session.scalar(sa.select(District.name_zh).where(District.code == "450302")) == (
            "秀峰区"
        )


def test_demo_twice_creates_nothing_new(cli_app, run):
    first = ok(run("demo"))
    events = count(cli_app, AuditEvent)
    second = ok(run("demo"))
    assert counts(cli_app) == (18, 15, 5 + DEMO_APPLICANTS + DEMO_SUBSIDY_APPLICANTS)
    assert count(cli_app, AuditEvent) == events
    password = re.search(r"password for all: (\S+)\)", first).group(1)
    assert f"password for all: {password})" in second
    assert first == second


def test_demo_code_prints_the_current_code(cli_app, run):
    ok(run("demo"))
    secret = demo_credentials(cli_app)["totp"]["demo.admin"]
    with time_machine.travel(utcnow(), tick=False):
        out = ok(run("demo-code", "demo.admin")).strip()
        assert re.fullmatch(r"\d{6}", out)
        assert out == pyotp.TOTP(secret).now()


def test_demo_code_refuses_other_accounts(cli_app, run):
    ok(run("demo"))
    ok(run("create-staff", "--role", "admin", "--username", "real.admin", "--name", "王磊"))
    result = run("demo-code", "real.admin")
    assert result.exit_code != 0
    assert not re.search(r"^\d{6}$", result.output, re.MULTILINE)
    assert run("demo-code", "nobody.here").exit_code != 0


# --- staff accounts ---------------------------------------------------------------------


def test_create_staff_prints_a_one_time_password(cli_app, run):
    ok(run("demo"))
    out = ok(
        run(
            "create-staff",
            "--role",
            "officer",
            "--username",
            "li.ming",
            "--name",
            "李明",
            "--district",
            "450302",
        )
    )
    password = re.search(r"one-time password: (\S+)", out).group(1)
    with cli_app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == "li.ming")).one()
        assert user.role is Role.OFFICER
        assert user.real_name == "李明"
        assert user.must_change_password is True
        assert user.totp_confirmed_at is None
        assert [d.code for d in user.districts] == ["450302"]
        assert password not in user.password_hash

    client = cli_app.test_client()
    resp = client.post_form("/login", {"identifier": "li.ming", "password": password})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert urlsplit(resp.headers["Location"]).path == "/login/totp/setup"


def test_create_officer_without_district_fails_and_creates_nothing(cli_app, run):
    ok(run("demo"))
    before = count(cli_app, User)
    result = run("create-staff", "--role", "officer", "--username", "li.ming", "--name", "李明")
    assert result.exit_code != 0
    assert "one-time password" not in result.output
    assert count(cli_app, User) == before
    assert count(cli_app, User, User.username == "li.ming") == 0


def test_create_officer_without_district_says_why(cli_app, run):
    ok(run("demo"))
    result = run("create-staff", "--role", "officer", "--username", "li.ming", "--name", "李明")
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert said(cli_app, result.output, "A housing officer needs at least one district.")


def test_create_staff_refuses_the_resident_role(cli_app, run):
    result = run("create-staff", "--role", "resident", "--username", "x.y", "--name", "张三")
    assert result.exit_code == 2
    assert "--role" in result.output
    assert count(cli_app, User) == 0


# --- partner clients --------------------------------------------------------------------


def test_create_client_prints_id_and_secret(cli_app, run):
    out = ok(
        run(
            "create-client",
            "--name",
            "桂林市中级人民法院",
            "--credit-code",
            CREDIT_CODE,
            "--scope",
            "credit.read",
        )
    )
    client_id = re.search(r"client_id: (\S+)", out).group(1)
    secret = re.search(r"client_secret: (\S+)", out).group(1)
    with cli_app.app_context():
        row = db.session.scalars(sa.select(ApiClient).where(ApiClient.client_id == client_id)).one()
        assert row.credit_code == CREDIT_CODE
        assert row.scope_set == {"credit.read"}
        assert secret not in row.secret_hash

    resp = cli_app.test_client().post(
        "/api/v1/auth/client-token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)


def test_create_client_with_an_invalid_credit_code_fails(cli_app, run):
    result = run("create-client", "--name", "某公司", "--credit-code", BAD_CREDIT_CODE)
    assert result.exit_code != 0
    assert "client_secret" not in result.output
    assert count(cli_app, ApiClient) == 0


def test_create_client_with_an_invalid_credit_code_says_why(cli_app, run):
    result = run("create-client", "--name", "某公司", "--credit-code", BAD_CREDIT_CODE)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert said(
        cli_app,
        result.output,
        "This unified social credit code is not valid: please check each character.",
    )


# --- audit chain ------------------------------------------------------------------------


def test_audit_verify_reports_the_events(cli_app, run):
    ok(run("demo"))
    ok(run("create-client", "--name", "某单位", "--credit-code", CREDIT_CODE))
    events = count(cli_app, AuditEvent)
    assert events >= 2
    out = ok(run("audit", "verify"))
    assert re.search(rf"\b{events} events\b", out), out


def test_audit_verify_names_an_altered_row(cli_app, run):
    ok(run("demo"))
    ok(run("create-client", "--name", "某单位", "--credit-code", CREDIT_CODE))
    ok(run("create-staff", "--role", "auditor", "--username", "audit.two", "--name", "审计"))
    with cli_app.app_context():
        ids = db.session.scalars(sa.select(AuditEvent.id).order_by(AuditEvent.id)).all()
        assert len(ids) >= 3
        target = ids[1]
        db.session.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        db.session.execute(
            sa.text("UPDATE audit_events SET details = :d WHERE id = :id"),
            {"d": '{"x":1}', "id": target},
        )
        db.session.commit()

    result = run("audit", "verify")
    assert result.exit_code == 1, (result.output, result.exception)
    assert re.search(rf"\bevent {target}\b", result.output), result.output


def test_scheduled_commands_run_on_an_empty_database(cli_app):
    runner = cli_app.test_cli_runner()
    for args, expected in (
        (["portal", "notices", "close-due"], "qualified 0 households"),
        (["portal", "applications", "expire-due"], "expired 0 document requests"),
        (["portal", "outbox", "deliver"], "sent 0, failed 0"),
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        assert expected in result.output

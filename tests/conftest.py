"""Test harness.

The schema is made once per run by the migrations (what production runs), in a database of
its own per xdist worker: a SQLite file, or a fresh PostgreSQL database when
``TEST_DATABASE_URL`` is set. Each test runs inside one outer transaction that is rolled back
at its end; the application's commits become savepoints.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db as _db
from portal.extensions import limiter

pytest_plugins = ["tests.factories.fixtures"]

CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'type="hidden" name="csrf_token" value="([^"]+)"'
)


class PortalClient(FlaskClient):
    """A test client whose requests each get their own application context, as in a real
    server: nothing a test holds (``g``, the signed-in user) leaks into a request."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)

    def csrf_token(self) -> str:
        html = self.get("/privacy").get_data(as_text=True)
        m = CSRF_RE.search(html)
        assert m, "no CSRF token on the page"
        return m.group(1) or m.group(2)

    def post_form(self, url: str, data: dict | None = None, **kwargs):
        """POST like a browser: with the CSRF token of the current session."""
        payload = {"csrf_token": self.csrf_token(), **(data or {})}
        return self.post(url, data=payload, **kwargs)


class ConnectionSession(Session):
    """Flask-SQLAlchemy's session picks an engine per model; in tests everything must go
    through the one connection that holds the test's transaction."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return bind if bind is not None else self.bind


RUN_ID = uuid.uuid4().hex[:8]  # two runs at once never share (or drop) a database


def _pg_admin(base: str) -> sa.Engine:
    url = sa.make_url(base).set(drivername="postgresql+psycopg")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def _postgres_url(base: str, suffix: str) -> str:
    """A fresh, empty PostgreSQL database next to ``base``; drop it with ``_drop_postgres``."""
    url = sa.make_url(base)
    name = f"{url.database}_portal_{RUN_ID}_{suffix}"
    admin = _pg_admin(base)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )


def _drop_postgres(base: str, url: str) -> None:
    admin = _pg_admin(base)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')
    admin.dispose()


@contextlib.contextmanager
def own_database_app(tmp_path, suffix: str) -> Iterator:
    """An app on a database of its own, migrated, whose commits are real (for threads or
    processes that race): a fresh PostgreSQL database named with ``suffix`` next to
    ``TEST_DATABASE_URL``, else a SQLite file; dropped afterwards. Tests using it are
    ``no_transaction``."""
    base = os.environ.get("TEST_DATABASE_URL")
    url = _postgres_url(base, suffix) if base else f"sqlite:///{tmp_path / f'{suffix}.db'}"
    app = create_app(TestConfig, instance_path=str(tmp_path / "i"), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
    try:
        yield app
    finally:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()
        if base:
            _drop_postgres(base, url)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id):
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
        return
    url = _postgres_url(base, worker_id)
    yield url
    _drop_postgres(base, url)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app(
        TestConfig,
        instance_path=str(tmp_path_factory.mktemp("instance")),
        SQLALCHEMY_DATABASE_URI=database_url,
    )
    app.test_client_class = PortalClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _isolated(request, app):
    """Every test in a transaction rolled back at its end, with a request context pushed."""
    if "no_transaction" in request.keywords:
        yield
        return
    with app.app_context():
        engine = _db.engine
    connection = engine.connect()
    outer = connection.begin()
    original = _db.session
    _db.session = _db._make_scoped_session(
        {
            "bind": connection,
            "join_transaction_mode": "create_savepoint",
            "class_": ConnectionSession,
        }
    )
    ctx = app.test_request_context()
    ctx.push()
    limiter.reset()
    try:
        yield
    finally:
        _db.session.remove()
        ctx.pop()
        _db.session = original
        outer.rollback()
        connection.close()


@pytest.fixture
def db():
    return _db


@pytest.fixture
def client(app) -> PortalClient:
    return app.test_client()


@pytest.fixture
def is_postgres(app) -> bool:
    return _db.engine.dialect.name == "postgresql"

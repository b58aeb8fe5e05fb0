"""Migrations (SECURITY.md F4): ``upgrade head`` from empty matches the models, on SQLite and
PostgreSQL; downgrading one revision and upgrading again works."""

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from portal import create_app
from portal.config import TestConfig
from portal.core.db import include_object, render_item
from portal.extensions import db
from tests.conftest import _drop_postgres, _postgres_url


def drift(connection) -> list:
    ctx = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "render_item": render_item,
            "include_object": include_object,
        },
    )
    return compare_metadata(ctx, db.metadata)


def test_migrated_schema_matches_the_models(app):
    assert drift(db.session.connection()) == []


@pytest.mark.no_transaction
def test_downgrade_one_and_upgrade_again(tmp_path, worker_id):
    base = os.environ.get("TEST_DATABASE_URL")
    url = _postgres_url(base, f"mig_{worker_id}") if base else f"sqlite:///{tmp_path / 'm.db'}"
    app = create_app(TestConfig, instance_path=str(tmp_path / "i"), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        downgrade(revision="-1")
        upgrade()
        with db.engine.connect() as conn:
            assert drift(conn) == []
        db.engine.dispose()
    if base:
        _drop_postgres(base, url)


@pytest.mark.no_transaction
def test_outbox_bodies_are_encrypted_by_the_migration_and_back(tmp_path, worker_id):
    """A data migration: existing plain-text bodies are encrypted, and decrypted on the way
    down."""
    import sqlalchemy as sa

    base = os.environ.get("TEST_DATABASE_URL")
    url = _postgres_url(base, f"outbox_{worker_id}") if base else f"sqlite:///{tmp_path / 'o.db'}"
    app = create_app(TestConfig, instance_path=str(tmp_path / "i"), SQLALCHEMY_DATABASE_URI=url)
    insert = sa.text(
        "INSERT INTO outbox (channel, recipient, subject, body, created_at, attempts) "
        "VALUES ('sms', :r, 'subject', 'your code is 123456', CURRENT_TIMESTAMP, 0)"
    )
    with app.app_context():
        upgrade(revision="99b82d17bad2")
        from portal.core.crypto import protector

        with db.engine.begin() as conn:
            conn.execute(insert, {"r": protector().encrypt("13800000000", "outbox.recipient")})
        upgrade(revision="f30cfbce6bac")
        with db.engine.connect() as conn:
            raw = conn.execute(sa.text("SELECT body FROM outbox")).scalar_one()
        assert b"123456" not in bytes(raw)
        assert protector().decrypt(bytes(raw), "outbox.body") == "your code is 123456"
        downgrade(revision="99b82d17bad2")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT body FROM outbox")).scalar_one() == (
                "your code is 123456"
            )
        db.engine.dispose()
    if base:
        _drop_postgres(base, url)

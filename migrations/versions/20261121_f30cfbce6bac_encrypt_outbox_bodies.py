"""encrypt outbox bodies

An SMS may carry a one-time code (password reset), so message bodies are encrypted at rest
like other personal data. Existing rows are converted with the data key: this data
migration runs under `flask db upgrade`, where the application's key is configured.

Revision ID: f30cfbce6bac
Revises: 99b82d17bad2
Create Date: 2026-11-21 21:22:32.100100

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f30cfbce6bac"
down_revision = "99b82d17bad2"
branch_labels = None
depends_on = None


def _protector():
    from flask import current_app

    from portal.core.crypto import DataProtector

    return DataProtector(current_app.config["DATA_KEY"])


def _convert(column_type, convert, comment) -> None:
    conn = op.get_bind()
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_new", column_type, nullable=True))
    rows = conn.execute(sa.text("SELECT id, body FROM outbox")).all()
    for row_id, body in rows:
        conn.execute(
            sa.text("UPDATE outbox SET body_new = :body WHERE id = :id"),
            {"body": convert(body), "id": row_id},
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("body")
        batch_op.alter_column(
            "body_new",
            new_column_name="body",
            existing_type=column_type,
            nullable=False,
            comment=comment,
        )


def upgrade():
    protector = _protector()
    _convert(
        sa.LargeBinary(),
        lambda body: protector.encrypt(body, "outbox.body"),
        "may hold a one-time code: encrypted",
    )


def downgrade():
    protector = _protector()
    _convert(sa.Text(), lambda blob: protector.decrypt(bytes(blob), "outbox.body"), None)

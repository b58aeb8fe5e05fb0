"""An export a person asked for, and its progress."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.clock import utcnow
from portal.core.db import UTCDateTime
from portal.core.enums import TitledEnum, enum_type
from portal.core.i18n import lazy_gettext as _l
from portal.extensions import db


class ExportStatus(TitledEnum):
    QUEUED = "queued", _l("Waiting to start")
    RUNNING = "running", _l("Being prepared")
    DONE = "done", _l("Ready to download")
    FAILED = "failed", _l("Failed")


class Export(db.Model):
    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    format: Mapped[str] = mapped_column(sa.String(8), nullable=False, comment="csv or xlsx")
    params_json: Mapped[str] = mapped_column(
        sa.Text, default="{}", nullable=False, comment="filters, fixed when asked (scope included)"
    )
    status: Mapped[ExportStatus] = mapped_column(enum_type(ExportStatus, "export_status"))
    total: Mapped[int | None] = mapped_column(nullable=True)
    done_rows: Mapped[int] = mapped_column(default=0, nullable=False)
    storage_name: Mapped[str | None] = mapped_column(sa.String(80), nullable=True)
    size: Mapped[int | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    @property
    def percent(self) -> int:
        if self.status is ExportStatus.DONE:
            return 100
        if not self.total:
            return 0
        return min(99, int(self.done_rows * 100 / self.total))

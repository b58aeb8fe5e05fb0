"""Where department data come from (DESIGN.md convention 6).

A *source* answers, for one department, what it knows about a list of people. Two sources:
the embedded registry (tables the portal keeps, imported from CSV: the default for demos and
tests) and a real data-sharing platform over HTTP JSON (``http_backend.py``), chosen by
``PORTAL_DEPARTMENT_BACKEND``. Facts are plain JSON-able dicts keyed by the person's blind
index; they never contain ID numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.verification.departments import Department
from portal.verification.models import RegistryRecord


@dataclass(frozen=True)
class PersonRef:
    index: str  # blind index of the ID number
    id_number: str  # sent to a real platform; never stored with the facts
    name: str


@dataclass
class Answer:
    department: Department
    status: Literal["ok", "error"]
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw: bytes = b""
    source: str = ""
    error: str | None = None

    @property
    def payload_hash(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


class DepartmentSource(Protocol):
    """What every backend provides."""

    name: str
    # True when lookups may run in worker threads (network calls); the embedded registry
    # reads the database through the request's session, so it runs inline.
    concurrent: bool

    def lookup(self, department: Department, people: list[PersonRef], timeout: float) -> Answer:
        """The department's facts about ``people``; never raises for a department failure
        (a timeout or an error answers ``status="error"``)."""
        ...


class EmbeddedRegistry:
    """Department data kept in the portal's own ``registry_records`` table."""

    name = "embedded registry"
    concurrent = False

    def lookup(self, department: Department, people: list[PersonRef], timeout: float) -> Answer:
        rows = db.session.scalars(
            sa.select(RegistryRecord).where(
                RegistryRecord.department == department,
                RegistryRecord.id_index.in_([p.index for p in people]),
            )
        ).all()
        facts = {r.id_index: r.data for r in rows}
        raw = json.dumps(facts, sort_keys=True, ensure_ascii=False).encode()
        return Answer(department, "ok", facts, raw, self.name)


def get_source() -> DepartmentSource:
    """The configured source (``embedded`` by default, or ``http``)."""
    kind = current_app.config.get("DEPARTMENT_BACKEND", "embedded")
    if kind == "http":
        from portal.verification.http_backend import HttpDataPlatform

        cfg = current_app.config
        return HttpDataPlatform(
            cfg["DATA_PLATFORM_URL"], cfg.get("DATA_PLATFORM_TOKEN"), name="data-sharing platform"
        )
    override = current_app.extensions.get("portal.department_source")
    return override or EmbeddedRegistry()

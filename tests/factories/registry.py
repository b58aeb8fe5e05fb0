"""Department data for tests: put facts in the embedded registry."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from portal.accounts.services import id_index
from portal.core.identifiers import mask_id_number
from portal.extensions import db
from portal.verification.departments import Department
from portal.verification.models import RegistryRecord


def put(department: Department, id_number: str, **facts: Any) -> RegistryRecord:
    row = RegistryRecord(
        department=department, id_index=id_index(id_number), data_json=json.dumps(facts)
    )
    db.session.add(row)
    db.session.flush()
    return row


def local_household(
    *people: tuple[str, str],
    since: date = date(2010, 1, 1),
    wage: int = 1200,
    owned_area: float = 0,
    married: bool = False,
    assistance: str = "none",
) -> None:
    """Registers ``(name, id_number)`` people as one local household with modest means.

    With ``married`` the first two are recorded as each other's spouse.
    """
    for i, (name, number) in enumerate(people):
        put(
            Department.PUBLIC_SECURITY,
            number,
            registered_name=name,
            hukou_local=True,
            hukou_district="450302",
            hukou_since=since.isoformat(),
            household_no="H0001",
        )
        civil: dict[str, Any] = {"marital_status": "single", "assistance": assistance}
        if married and i < 2:
            other = people[1 - i][1]
            civil = {
                "marital_status": "married",
                "assistance": assistance,
                "spouse_index": id_index(other),
                "spouse_masked": mask_id_number(other),
            }
        put(Department.CIVIL_AFFAIRS, number, **civil)
        put(Department.SOCIAL_SECURITY, number, local_months_continuous=60, monthly_wage=wage)
        if owned_area and i == 0:
            put(Department.PROPERTY, number, owned_area=owned_area, properties=1)

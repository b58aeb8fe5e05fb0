"""Roles. Every account holds exactly one, so no account can combine the three separated
powers of 三权分立 (administrator, security officer, auditor; SECURITY.md B3)."""

from portal.core.enums import TitledEnum
from portal.core.i18n import lazy_gettext as _l


class Role(TitledEnum):
    RESIDENT = "resident", _l("Resident")
    OFFICER = "officer", _l("Housing officer")
    REVIEWER = "reviewer", _l("Department reviewer")
    MANAGER = "manager", _l("Manager")
    ADMIN = "admin", _l("System administrator")
    SECURITY = "security", _l("Security officer")
    AUDITOR = "auditor", _l("Auditor")

    @property
    def is_staff(self) -> bool:
        return self is not Role.RESIDENT

    @property
    def description(self):
        return ROLE_DESCRIPTIONS[self]


ROLE_DESCRIPTIONS = {
    Role.RESIDENT: _l("Applies, follows applications, tenancy, subsidy and credit record."),
    Role.OFFICER: _l("Works applications, the waiting list and tenancies in their districts."),
    Role.REVIEWER: _l("Confirms the data checks of one department."),
    Role.MANAGER: _l("Confirms violations, approves allocation rounds, sets targets."),
    Role.ADMIN: _l("Creates and disables staff accounts and keeps reference data."),
    Role.SECURITY: _l("Unlocks accounts, resets second factors and ends sessions."),
    Role.AUDITOR: _l("Reads and verifies the audit log; changes nothing."),
}

STAFF_ROLES = tuple(r for r in Role if r.is_staff)

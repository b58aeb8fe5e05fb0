"""The departments whose data the portal checks (RULES.md, 并联审核)."""

from portal.core.enums import TitledEnum
from portal.core.i18n import lazy_gettext as _l


class Department(TitledEnum):
    PUBLIC_SECURITY = "public_security", _l("Public security (hukou)")
    CIVIL_AFFAIRS = "civil_affairs", _l("Civil affairs")
    PROPERTY = "property", _l("Real estate registry")
    SOCIAL_SECURITY = "social_security", _l("Human resources and social security")
    HOUSING_FUND = "housing_fund", _l("Housing provident fund")
    MARKET_REGULATION = "market_regulation", _l("Market regulation")
    VEHICLES = "vehicles", _l("Vehicle registry")
    DISABILITY = "disability", _l("Disabled persons' federation")

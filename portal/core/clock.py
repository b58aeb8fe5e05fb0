"""One clock for the whole portal, so rules about time can be tested with a frozen clock."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date where the city is (deadlines and ages are counted in local days)."""
    return utcnow().astimezone(CITY_TZ).date()

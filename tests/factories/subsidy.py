"""Rental subsidy awards for tests: a household's application, its award and first basis,
made directly (no department checks, no notice), fast enough for tests that need many."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from portal.applications.models import Application, Programme
from portal.core.clock import today
from portal.extensions import db
from portal.subsidy.models import AwardBasis, AwardStatus, SubsidyAward, SubsidyBasis
from tests.factories.applications import qualified_application

_accounts = itertools.count(1)


def household(
    district=None,
    *,
    size: int = 2,
    programme: Programme = Programme.RENTAL_SUBSIDY,
    resident=None,
) -> Application:
    """A qualified application of ``size`` persons (applicant, spouse, children)."""
    return qualified_application(
        district, resident=resident, household_size=size, programme=programme
    )


def award(
    district=None,
    *,
    app: Application | None = None,
    size: int = 2,
    income: str = "1000",
    assistance: bool = False,
    own_area: str = "0",
    rent: str | None = "2000",
    starts_month: date | None = None,
    valid_until: date | None = None,
    basis: AwardBasis = AwardBasis.SUBSIDY,
    status: AwardStatus | None = None,
    details: bool = True,
    veteran: bool = False,
    lease=None,
    resident=None,
) -> SubsidyAward:
    """An award paid to a bank (or a tenant's, with ``lease``) from ``starts_month`` (this
    month), valid a year, with its first basis; ``details=False``: no account yet."""
    app = app or household(district, size=size, resident=resident)
    start = starts_month or date(today().year, today().month, 1)
    n = next(_accounts)
    row = SubsidyAward(
        reference=f"S{start.year}{900000 + n:06d}",
        application_id=app.id,
        district_id=app.district_id,
        basis=basis,
        status=status or (AwardStatus.ACTIVE if details or lease else AwardStatus.DETAILS),
        starts_month=start,
        valid_until=valid_until or start + timedelta(days=364),
        lease_id=lease.id if lease is not None else None,
        payee_name=app.members[0].name if details else None,
        bank_name="中国工商银行桂林分行" if details else None,
        bank_account=f"62220200{n:011d}" if details else None,
        veteran=veteran,
    )
    db.session.add(row)
    db.session.flush()
    db.session.add(
        SubsidyBasis(
            award_id=row.id,
            effective_month=start,
            household_size=len(app.members),
            assistance=assistance,
            per_capita_income=Decimal(income),
            own_area=Decimal(own_area),
            actual_rent=Decimal(rent) if rent is not None and lease is None else None,
            source="application",
            occurred_on=start,
        )
    )
    db.session.flush()
    return row

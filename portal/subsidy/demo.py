"""Demo data of the rental subsidy: some of the demo's waiting and rental subsidy households
have given their rent and account, their awards (and the assistance tenants' offsets) run
from two months ago, last month is computed and closed (four eyes), and this month is
computed and waiting to be corrected, computed again and closed in the browser.

Call it after the demo's households, notices and tenancies exist (``portal/demo.py``), e.g.
``load(_staff("demo.officer"), [_staff("demo.manager"), _staff("demo.manager2")])`` inside
``_not_texted()``. It does nothing once a month has been computed.
"""

from __future__ import annotations

import random

import sqlalchemy as sa

from portal.accounts.models import User
from portal.core.clock import today
from portal.extensions import db
from portal.subsidy import services
from portal.subsidy.models import AwardBasis, AwardStatus, SubsidyAward, SubsidyBasis, SubsidyRun

BANKS = ("中国工商银行桂林分行", "中国建设银行桂林分行", "桂林银行秀峰支行", "中国农业银行临桂支行")
HOUSEHOLDS_WITH_DETAILS = 22  # the others still have to give their rent and account


def _account(rng: random.Random) -> str:
    return "6222" + "".join(str(rng.randrange(10)) for _ in range(15))


def load(officer: User, managers: list[User]) -> int:
    """Give details, backdate, compute and close last month, compute this month. Returns
    the number of households paid this month (0 when a run already exists)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(SubsidyRun)):
        return 0
    rng = random.Random(6)  # noqa: S311 - reproducible demo data, not a secret
    manager, other = managers[0], managers[-1]
    this_month = services.month_of(today())
    last_month = services.add_months(this_month, -1)
    since = services.add_months(this_month, -2)
    awards = list(
        db.session.scalars(
            sa.select(SubsidyAward)
            .where(SubsidyAward.status.in_((AwardStatus.DETAILS, AwardStatus.ACTIVE)))
            .order_by(SubsidyAward.basis, SubsidyAward.id)  # subsidy households first
        )
    )
    given = 0
    for award in awards:
        if award.basis is not AwardBasis.TENANT:
            if given >= HOUSEHOLDS_WITH_DETAILS:
                continue
            app = award.application
            services.give_details(
                award,
                manager,
                actual_rent=str(rng.randrange(600, 2200, 50)),
                payee_name=app.members[0].name,
                bank_name=rng.choice(BANKS),
                bank_account=_account(rng),
            )
            given += 1
        # the demo's households qualified a while ago: paid from two months back
        award.starts_month = since
        first = db.session.scalars(
            sa.select(SubsidyBasis)
            .where(SubsidyBasis.award_id == award.id)
            .order_by(SubsidyBasis.effective_month)
            .limit(1)
        ).first()
        if first is not None:
            rest = db.session.scalars(
                sa.select(SubsidyBasis).where(
                    SubsidyBasis.award_id == award.id, SubsidyBasis.id != first.id
                )
            ).all()
            for basis in rest:  # the rent given now was paid since then too
                first.actual_rent = basis.actual_rent or first.actual_rent
                db.session.delete(basis)
            db.session.flush()
            first.effective_month = since
    db.session.flush()
    closed = services.compute_month(last_month, officer)
    services.close_run(closed, manager if manager.id != officer.id else other)
    run = services.compute_month(this_month, officer)
    db.session.flush()
    return run.households

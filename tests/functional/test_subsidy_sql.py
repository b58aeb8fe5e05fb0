"""The run's SQL computes exactly what the Python rules compute, to the fen, for any facts and
any rule values (property test; on SQLite, and on PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.core.clock import today
from portal.extensions import db
from portal.subsidy import rules, services
from portal.subsidy.models import AwardBasis, SubsidyAward, SubsidyBasis
from portal.tenancy.models import Lease, LeaseStatus
from tests.factories import DistrictFactory
from tests.factories.housing import UnitFactory
from tests.factories.subsidy import household

POOL = 6
MONTH = date(today().year, today().month, 1)


def cents(low: int, high: int):
    return st.integers(low * 100, high * 100).map(lambda n: Decimal(n) / 100)


# boundaries of the default tiers are drawn often
incomes = st.one_of(
    st.sampled_from([Decimal(v) for v in ("0", "1693", "1693.01", "2540", "2540.01", "1692.99")]),
    cents(0, 6000),
)
rule_number = st.one_of(
    st.integers(0, 60),
    st.floats(0, 60, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.005, 1.005, 2.675, 17.125]),
)
values_strategy = st.fixed_dictionaries(
    {
        "mode_table": st.sampled_from([0, 0, 0, 1]),
        "rate_assistance": rule_number,
        "tier1_income": st.one_of(st.just(1693), st.integers(0, 4000)),
        "rate_tier1": rule_number,
        "tier2_income": st.one_of(st.just(2540), st.integers(0, 6000)),
        "rate_tier2": rule_number,
        "rate_above": rule_number,
        "area_one_person": st.integers(0, 40),
        "area_per_person": st.one_of(st.integers(0, 30), st.floats(0, 30, allow_nan=False)),
        "area_cap": st.integers(0, 100),
        "coefficient": st.floats(0, 3, allow_nan=False),
        "coefficient_veteran": st.floats(0, 3, allow_nan=False),
        "table_1": st.integers(0, 2000),
        "table_2": st.integers(0, 2000),
        "table_3": st.integers(0, 2000),
        "table_4": st.integers(0, 2000),
        "table_5": st.floats(0, 2000, allow_nan=False),
    }
)
household_strategy = st.fixed_dictionaries(
    {
        "size": st.integers(1, 8),
        "assistance": st.booleans(),
        "veteran": st.booleans(),
        "income": incomes,
        "own": st.one_of(st.just(Decimal(0)), cents(0, 120)),
        "rent": st.one_of(st.none(), cents(0, 4000)),
        "tenant": st.booleans(),
    }
)


@pytest.fixture
def pool(db):
    """Households to hang awards on (each example's awards are rolled back), each with a
    lease for the tenant cases."""
    district = DistrictFactory()
    apps = [household(district, size=1) for _ in range(POOL)]
    leases = []
    for app in apps:
        unit = UnitFactory(district=district)
        lease = Lease(
            reference=f"L-SQL-{app.id}",
            unit_id=unit.id,
            application_id=app.id,
            tenant_id=app.applicant_id,
            starts_on=date(2025, 1, 1),
            ends_on=date(2028, 1, 1),
            monthly_rent=Decimal("500.00"),
            status=LeaseStatus.ACTIVE,
        )
        db.session.add(lease)
        leases.append(lease)
    db.session.flush()
    return list(zip(apps, leases, strict=True))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=values_strategy,
    households=st.lists(household_strategy, min_size=1, max_size=POOL),
    lease_rent=cents(0, 3000),
)
def test_sql_and_python_agree_to_the_fen(pool, values, households, lease_rent):
    savepoint = db.session.begin_nested()
    try:
        awards = []
        for (app, lease), h in zip(pool, households, strict=False):
            lease.monthly_rent = lease_rent
            award = SubsidyAward(
                reference=f"S-SQL-{app.id}",
                application_id=app.id,
                district_id=app.district_id,
                basis=AwardBasis.TENANT if h["tenant"] else AwardBasis.SUBSIDY,
                status="active",
                starts_month=MONTH,
                valid_until=date(MONTH.year + 1, MONTH.month, 1),
                lease_id=lease.id if h["tenant"] else None,
                payee_name="x",
                bank_name="bank",
                bank_account="6222020000000001",
                veteran=h["veteran"],
            )
            db.session.add(award)
            db.session.flush()
            db.session.add(
                SubsidyBasis(
                    award_id=award.id,
                    effective_month=MONTH,
                    household_size=h["size"],
                    assistance=h["assistance"],
                    per_capita_income=h["income"],
                    own_area=h["own"],
                    actual_rent=h["rent"] if h["rent"] is not None else Decimal("0.00"),
                    source="application",
                )
            )
            awards.append(award)
        db.session.flush()
        rows = {
            r.award_id: r
            for r in db.session.connection().execute(
                services._text(
                    services.payment_select(values, db.session.connection().dialect.name)
                ),
                services.payment_params(MONTH, values),
            )
        }
        assert set(rows) == {a.id for a in awards}
        for award in awards:
            basis = services.basis_for(award, MONTH)
            expected = rules.compute(services.inputs_of(award, basis), values)
            r = rows[award.id]

            def money(v):
                return None if v is None else (Decimal(int(v)) / 100).quantize(rules.CENT)

            got = (
                money(r.amount),
                r.tier,
                money(r.rate),
                money(r.area),
                money(r.coefficient),
                money(r.uncapped),
                money(r.cap),
                r.channel,
            )
            want = (
                expected.amount,
                expected.tier,
                expected.rate,
                expected.area,
                expected.coefficient,
                expected.uncapped,
                expected.cap,
                "rent" if award.basis is AwardBasis.TENANT else "bank",
            )
            assert got == want, (values, basis.household_size, award.veteran)
    finally:
        savepoint.rollback()


def test_the_select_leaves_out_what_is_not_payable(pool):
    """Not payable: waiting for details, suspended, not started, ended, lapsed."""
    cases = [
        {"status": "details", "bank_account": None},
        {"status": "suspended"},
        {"status": "active", "starts_month": date(MONTH.year + 1, 1, 1)},
        {"status": "ended", "ends_month": MONTH},
        {"status": "lapsed", "valid_until": date(MONTH.year - 1, 12, 31)},
        {"status": "active"},  # the one paid
    ]
    ids = []
    for (app, _), case in zip(pool, cases, strict=True):
        award = SubsidyAward(
            reference=f"S-NP-{app.id}",
            application_id=app.id,
            district_id=app.district_id,
            basis=AwardBasis.WAITING,
            starts_month=case.pop("starts_month", MONTH),
            valid_until=case.pop("valid_until", date(MONTH.year + 1, 1, 1)),
            payee_name="x",
            bank_name="bank",
            bank_account=case.pop("bank_account", "6222020000000001"),
            **case,
        )
        db.session.add(award)
        db.session.flush()
        db.session.add(
            SubsidyBasis(
                award_id=award.id,
                effective_month=MONTH,
                household_size=2,
                assistance=False,
                per_capita_income=Decimal("1000"),
                own_area=Decimal(0),
                actual_rent=Decimal("2000"),
                source="application",
            )
        )
        ids.append(award.id)
    db.session.flush()
    values = rules.DEFAULTS
    found = [
        r.award_id
        for r in db.session.connection().execute(
            services._text(services.payment_select(values, db.session.connection().dialect.name)),
            services.payment_params(MONTH, values),
        )
    ]
    assert found == [ids[-1]]

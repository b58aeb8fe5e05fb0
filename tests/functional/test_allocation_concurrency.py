"""No unit is let twice (SECURITY.md F1): ten requests at once for the same unit, with real
commits, end in exactly one lease, every time. The database's own guarantee (one active
lease per unit, one per household) is shown on both databases."""

from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.allocation import choosing
from portal.allocation.models import AllocationRound, RoundEntrant, RoundStatus
from portal.applications.models import Application
from portal.core.clock import today
from portal.core.errors import Conflict, UnitTaken
from portal.extensions import db
from portal.housing.models import Unit, UnitStatus
from portal.tenancy.models import Lease, LeaseStatus
from portal.tenancy.services import create_lease
from tests.conftest import own_database_app
from tests.factories import DistrictFactory
from tests.factories.allocation import ordered_round
from tests.factories.fixtures import make_staff
from tests.factories.housing import UnitFactory
from tests.factories.waitlist import waiting_entry

THREADS = 10
RACES = 5
BASE = os.environ.get("TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(
    not BASE, reason="threads racing for row locks need PostgreSQL (TEST_DATABASE_URL)"
)


@pytest.fixture
def live_app(tmp_path, worker_id):
    with own_database_app(tmp_path, f"alloc_{worker_id}") as app:
        yield app


def _run_all(target, args_list):
    """Run ``target`` once per argument tuple, every thread starting at the same moment."""
    barrier = threading.Barrier(len(args_list))
    results: list = [None] * len(args_list)

    def work(i, args):
        barrier.wait()
        try:
            results[i] = target(*args)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i, a)) for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _in_request(app, work):
    """``work()`` in a request and transaction of its own, committed as a real request is."""
    with app.test_request_context():
        try:
            result = work()
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


def _active_leases(app, unit_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Lease)
            .where(Lease.unit_id == unit_id, Lease.status == LeaseStatus.ACTIVE)
        )


def _setup(app, households: int, *, open_round: bool = False):
    """Commit a district, its officer, one unit and ``households`` waiting households (in an
    allocation round of that unit, choosing opened, if ``open_round``)."""
    with app.test_request_context():
        district = DistrictFactory()
        officer = make_staff(Role.OFFICER, districts=[district])
        entries = [waiting_entry(district, household_size=2) for _ in range(households)]
        unit = UnitFactory(district=district, area=Decimal("45.00"))
        round_id = None
        if open_round:
            rnd = ordered_round(district, units=[unit], entrants=entries)
            choosing.open_choosing(rnd, officer)
            round_id = rnd.id
        ids = {
            "officer": officer.id,
            "unit": unit.id,
            "applications": [e.application_id for e in entries],
            "entries": [e.id for e in entries],
            "round": round_id,
        }
        db.session.commit()
        db.session.remove()
        return ids


@pytest.mark.postgres
@pytest.mark.no_transaction
@needs_postgres
def test_ten_leases_of_one_unit_at_once_make_exactly_one_every_time(live_app):
    for _ in range(RACES):
        ids = _setup(live_app, THREADS)

        def lease(app_id, ids=ids):
            def work():
                application = db.session.get(Application, app_id)
                return create_lease(
                    unit=db.session.get(Unit, ids["unit"]),
                    application=application,
                    tenant=application.applicant,
                    actor=db.session.get(User, ids["officer"]),
                    starts_on=today(),
                    years=3,
                ).reference

            return _in_request(live_app, work)

        results = _run_all(lease, [(a,) for a in ids["applications"]])

        assert sum(isinstance(r, str) for r in results) == 1, results
        assert sum(isinstance(r, UnitTaken) for r in results) == THREADS - 1, results
        assert _active_leases(live_app, ids["unit"]) == 1
        with live_app.app_context():
            assert db.session.get(Unit, ids["unit"]).status is UnitStatus.OCCUPIED


@pytest.mark.postgres
@pytest.mark.no_transaction
@needs_postgres
def test_ten_choices_of_one_unit_at_once_make_exactly_one_every_time(live_app):
    """The household in the portal and officers at the counter choose the same unit for it
    at the same moment: one lease, the others are told the unit or the turn is gone."""
    for _ in range(RACES):
        ids = _setup(live_app, 2, open_round=True)
        with live_app.test_request_context():
            resident_id = db.session.get(Application, ids["applications"][0]).applicant_id
            entrant_id = db.session.scalar(
                sa.select(RoundEntrant.id).where(RoundEntrant.entry_id == ids["entries"][0])
            )
            db.session.remove()
        actors = [resident_id] + [ids["officer"]] * (THREADS - 1)

        def choose(actor_id, ids=ids, entrant_id=entrant_id):
            def work():
                return choosing.choose_unit(
                    db.session.get(RoundEntrant, entrant_id),
                    db.session.get(Unit, ids["unit"]),
                    db.session.get(User, actor_id),
                ).reference

            return _in_request(live_app, work)

        results = _run_all(choose, [(a,) for a in actors])

        assert sum(isinstance(r, str) for r in results) == 1, results
        assert sum(isinstance(r, Conflict) for r in results) == THREADS - 1, results
        assert _active_leases(live_app, ids["unit"]) == 1
        with live_app.app_context():
            assert db.session.get(Unit, ids["unit"]).status is UnitStatus.OCCUPIED
            assert db.session.get(AllocationRound, ids["round"]).status is RoundStatus.CLOSED


# --- the database's guarantee, on SQLite and PostgreSQL -------------------------------------


def _lease(unit, entry, actor):
    app = entry.application
    return create_lease(
        unit=unit, application=app, tenant=app.applicant, actor=actor, starts_on=today(), years=3
    )


def test_a_second_active_lease_of_a_unit_is_refused_by_the_database():
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    first, second = (waiting_entry(district) for _ in range(2))
    unit = UnitFactory(district=district)
    _lease(unit, first, officer)

    # a check fooled by a stale state: the unit looks free again, the index still knows
    db.session.execute(sa.update(Unit).where(Unit.id == unit.id).values(status=UnitStatus.IN_ROUND))
    db.session.expire_all()
    with pytest.raises(UnitTaken):
        _lease(unit, second, officer)

    direct = Lease(
        reference="L-direct",
        unit_id=unit.id,
        application_id=second.application_id,
        tenant_id=second.application.applicant_id,
        starts_on=today(),
        ends_on=today().replace(year=today().year + 3),
        monthly_rent=Decimal("1.00"),
        status=LeaseStatus.ACTIVE,
    )
    with pytest.raises(IntegrityError):
        _insert(direct)
    assert _count_active(unit.id) == 1


def test_a_household_holds_one_active_lease():
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    entry = waiting_entry(district)
    _lease(UnitFactory(district=district), entry, officer)
    other = UnitFactory(district=district)

    with pytest.raises(Conflict) as exc:
        _lease(other, entry, officer)
    assert not isinstance(exc.value, UnitTaken)
    assert other.status is UnitStatus.VACANT


def _insert(row) -> None:
    with db.session.begin_nested():
        db.session.add(row)
        db.session.flush()


def _count_active(unit_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Lease)
        .where(Lease.unit_id == unit_id, Lease.status == LeaseStatus.ACTIVE)
    )

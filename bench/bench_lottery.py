"""Allocation round benchmarks: a lottery round of 100,000 households and 10,000 units.

- Approval (not in the target): the entrant snapshot of 100,000 waiting households, the seed
  and the two published hashes, committed. Reported for information.
- The target: ``services.draw`` (100,000 HMACs, the order, every entrant's draw value and
  position written) plus ``services.allocate_in_order`` (10,000 units offered in order),
  committed: at most 3 s. Peak memory of the same two calls: at most 300 MB, measured with
  ``tracemalloc`` (Python allocations) in a second run after the timed one (tracing slows
  the code), on the same round put back as approved, and rolled back.
- ``lottery.order`` of 1,000,000 entrants (pure, no database): at most 10 s.

Runs on SQLite in a temporary folder, or on ``BENCH_DATABASE_URL`` (PostgreSQL).
``BENCH_ROUND_SIZE`` sets the number of entrants (default 100,000).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal

from bench.common import bench_database, database_label, report

UNITS = 10_000
ORDER_SIZE = 1_000_000


def _units(session, district_id: int) -> list[int]:
    """10,000 vacant public-rental units in 20 estates of the district, 30 to 75 m²."""
    import sqlalchemy as sa

    from portal.applications.models import Programme
    from portal.core.clock import utcnow
    from portal.housing.models import Building, Estate, Unit, UnitStatus

    now = utcnow()
    estates = [
        Estate(
            code=f"BENCH-{e:03d}",
            name=f"基准小区{e}",
            district_id=district_id,
            address=f"基准路{e}号",
            programme=Programme.PUBLIC_RENTAL,
        )
        for e in range(20)
    ]
    session.add_all(estates)
    session.flush()
    buildings = [Building(estate_id=e.id, name=f"{b + 1}栋") for e in estates for b in range(10)]
    session.add_all(buildings)
    session.flush()
    rows = []
    for i in range(UNITS):
        b = buildings[i % len(buildings)]
        rows.append(
            {
                "estate_id": b.estate_id,
                "building_id": b.id,
                "number": f"{i // len(buildings) + 1:04d}",
                "floor": 1 + i % 18,
                "area": Decimal(30 + (i * 37) % 46),
                "rooms": 1 + i % 3,
                "accessible": False,
                "rent": Decimal("600.00"),
                "status": UnitStatus.VACANT,
                "updated_at": now,
            }
        )
    session.execute(sa.insert(Unit), rows)
    return list(session.scalars(sa.select(Unit.id).order_by(Unit.id)))


def bench_round(database_url: str, instance: str, entrants: int) -> bool:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from bench.data_waitlist import populate
    from portal import create_app
    from portal.accounts.models import User
    from portal.accounts.roles import Role
    from portal.allocation import services
    from portal.allocation.models import AllocationRound, Method, RoundEntrant
    from portal.applications.models import Programme
    from portal.config import TestConfig
    from portal.extensions import db
    from portal.waitlist.models import Group

    app = create_app(TestConfig, instance_path=instance, SQLALCHEMY_DATABASE_URI=database_url)
    ok = True
    with app.app_context(), app.test_request_context():
        upgrade()
        from tests.factories import DistrictFactory, ResidentFactory
        from tests.factories.fixtures import make_staff

        district, resident = DistrictFactory(), ResidentFactory()
        officer = make_staff(Role.OFFICER, districts=[district])
        manager = make_staff(Role.MANAGER)
        db.session.commit()
        t = time.perf_counter()
        # four in five households of the generated list are in public rental housing
        populate(
            db.session.connection(),
            entrants * 5 // 4,
            applicant_id=resident.id,
            district_id=district.id,
        )
        db.session.execute(
            sa.text("UPDATE queue_entries SET sector = 'sanitation' WHERE \"group\" = 's'")
        )
        unit_ids = _units(db.session, district.id)
        db.session.commit()
        print(f"  households and {UNITS:,} units written in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        rnd = services.create_round(
            officer,
            district=district,
            programme=Programme.PUBLIC_RENTAL,
            title="基准批次",
            method=Method.LOTTERY,
            groups=list(Group),
            sector_share=5,
            choose_days=3,
            unit_ids=unit_ids,
        )
        services.propose(rnd, officer)
        db.session.commit()
        print(
            f"  round drafted and proposed ({UNITS:,} units offered) in "
            f"{time.perf_counter() - t:.1f} s"
        )

        t = time.perf_counter()
        rnd = services.approve(rnd, manager, "bench")
        db.session.commit()
        seconds = time.perf_counter() - t
        print(
            f"  approval: {rnd.entrant_count:,} entrants frozen, hashes published, committed in "
            f"{seconds:.2f} s (not part of the target below)"
        )
        round_id, officer_id, count = rnd.id, officer.id, rnd.entrant_count

        def draw_and_allocate():
            actor = db.session.get(User, officer_id)
            r = db.session.get(AllocationRound, round_id)
            services.draw(r, actor)
            return services.allocate_in_order(r, actor, tell=False)

        t = time.perf_counter()
        invited = draw_and_allocate()
        db.session.commit()
        seconds = time.perf_counter() - t
        rnd = db.session.get(AllocationRound, round_id)
        checks = services.verification(rnd)
        assert all(c.passed for c in checks), checks
        placed = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RoundEntrant)
            .where(RoundEntrant.round_id == round_id, RoundEntrant.position.is_not(None))
        )
        assert placed == count, (placed, count)
        assert 0 < invited <= UNITS, invited

        # memory: the round put back as approved, the same two calls traced, rolled back
        db.session.execute(
            sa.update(RoundEntrant)
            .where(RoundEntrant.round_id == round_id)
            .values(
                draw=None,
                position=None,
                unit_id=None,
                status="waiting",
                invited_at=None,
                respond_by=None,
            )
        )
        db.session.execute(
            sa.update(AllocationRound)
            .where(AllocationRound.id == round_id)
            .values(status="approved", published_seed=None, ordered_at=None)
        )
        db.session.commit()
        db.session.expunge_all()
        tracemalloc.start()
        draw_and_allocate()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        db.session.rollback()

        ok &= report(
            f"draw + allocate in order ({count:,} / {UNITS:,}), committed",
            seconds,
            "s",
            "<= 3 s",
            seconds <= 3,
        )
        ok &= report(
            "  peak memory of the same (tracemalloc)", peak, "MB", "<= 300 MB", peak <= 300
        )
        assert 0 < invited <= UNITS, invited
        print(f"  {invited:,} households offered a unit; the published checks pass")
        print("  (their messages are sent afterwards by the job rounds.tell_offers: not timed)")
    return ok


def bench_order() -> bool:
    from portal.allocation import lottery

    seed = lottery.new_seed()
    entrants = [(f"GL{2026}{i:07d}", i % 20 == 0) for i in range(ORDER_SIZE)]
    t = time.perf_counter()
    result = lottery.order(seed, entrants, 5_000)
    seconds = time.perf_counter() - t
    assert len(result) == ORDER_SIZE
    return report(
        f"lottery.order of {ORDER_SIZE:,} entrants (no database)",
        seconds,
        "s",
        "<= 10 s",
        seconds <= 10,
    )


def main() -> int:
    size = int(os.environ.get("BENCH_ROUND_SIZE", "100000"))
    print("Allocation rounds and the lottery")
    ok = bench_order()
    with tempfile.TemporaryDirectory() as tmp, bench_database(tmp, "lottery") as url:
        print(f"  database: {database_label(url)}")
        ok &= bench_round(url, tmp, size)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

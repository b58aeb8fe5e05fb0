"""Re-rankings at once from several workers, with real commits: they take turns, and what
is left is one complete ranking (on PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.waitlist import services
from portal.waitlist.models import QueueRank, QueueRanking
from tests.conftest import own_database_app

pytestmark = pytest.mark.no_transaction
THREADS = 4
HOUSEHOLDS = 30


@pytest.fixture
def live_app(tmp_path, worker_id):
    with own_database_app(tmp_path, f"wl_{worker_id}") as app:
        yield app


def test_concurrent_reranks_leave_one_complete_ranking(live_app):
    from tests.factories.waitlist import waiting_entry

    with live_app.test_request_context():
        for _ in range(HOUSEHOLDS):
            waiting_entry()
        db.session.commit()

    barrier = threading.Barrier(THREADS)
    errors: list[Exception] = []

    def work():
        with live_app.app_context():
            barrier.wait()
            try:
                services.rerank()
                db.session.commit()
            except Exception as exc:  # collected and asserted on below
                errors.append(exc)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    with live_app.app_context():
        rankings = db.session.scalars(sa.select(QueueRanking)).all()
        assert len(rankings) == 1
        ranks = db.session.scalars(
            sa.select(QueueRank.rank).where(QueueRank.generation == rankings[0].id)
        ).all()
        assert sorted(ranks) == list(range(1, HOUSEHOLDS + 1))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(QueueRank)) == HOUSEHOLDS

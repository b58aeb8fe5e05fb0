"""One open review per household even when several requests open one at the same moment
(the partial unique index ``uq_reviews_open_application`` and the services' re-read), with
real commits on PostgreSQL."""

from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.extensions import db
from portal.reviews import services
from portal.reviews.models import Review
from tests.conftest import own_database_app

THREADS = 6
BASE = os.environ.get("TEST_DATABASE_URL")
needs_postgres = pytest.mark.skipif(
    not BASE, reason="threads racing for a unique index need PostgreSQL (TEST_DATABASE_URL)"
)


@pytest.fixture
def live_app(tmp_path, worker_id):
    with own_database_app(tmp_path, f"rev_{worker_id}") as app:
        yield app


@pytest.mark.postgres
@pytest.mark.no_transaction
@needs_postgres
def test_change_reports_at_once_make_one_review(live_app):
    from tests.factories.reviews import tenant_household

    with live_app.test_request_context():
        lease = tenant_household(review_in_days=200)
        tenant_id, app_id = lease.tenant_id, lease.application_id
        db.session.commit()

    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def work(i: int) -> None:
        with live_app.test_request_context():
            barrier.wait()
            try:
                tenant = db.session.get(User, tenant_id)
                review = services.report_change(
                    tenant, "income", f"第{i}次报告：我换了新工作，月工资三千元。"
                )
                db.session.commit()
                results[i] = review.id
            except Exception as exc:  # collected and asserted on below
                db.session.rollback()
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    with live_app.app_context():
        reviews = db.session.scalars(sa.select(Review).where(Review.application_id == app_id)).all()
        assert len(reviews) == 1
        assert reviews[0].answer.count("月工资三千元") == THREADS  # no report is lost

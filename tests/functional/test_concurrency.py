"""Concurrent requests with real commits (SECURITY.md F1, F2): the same submission sent at
once from several threads makes one application; one person never lands in two."""

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from portal.applications import services
from portal.applications.models import Application, PersonClaim, Programme, Relationship, Status
from portal.applications.texts import texts_hash
from portal.core.errors import DuplicateApplication
from portal.core.identifiers import make_id_number
from portal.extensions import db
from tests.conftest import own_database_app

pytestmark = pytest.mark.no_transaction
THREADS = 6


@pytest.fixture
def live_app(tmp_path, worker_id):
    with own_database_app(tmp_path, f"conc_{worker_id}") as app:
        yield app


def _ready_draft(app, n: int = 1):
    """Commit ``n`` residents, each with a complete draft; returns their ids."""
    from tests.factories import DistrictFactory, ResidentFactory

    with app.test_request_context():
        district = DistrictFactory(code="450302")
        ids = []
        for _ in range(n):
            r = ResidentFactory()
            draft = services.start_application(r, Programme.PUBLIC_RENTAL)
            services.update_details(
                draft,
                r,
                contact_phone=r.mobile,
                email=None,
                current_address="秀峰区中山中路1号",
                district_code=district.code,
                preferred_codes=[],
            )
            ids.append((r.id, draft.id))
        db.session.commit()
        return ids


def _run_all(target, args_list):
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


def _submit(app, user_id, app_id):
    from portal.accounts.models import User

    with app.test_request_context():
        try:
            user = db.session.get(User, user_id)
            draft = db.session.get(Application, app_id)
            result = services.submit(
                draft,
                user,
                accept_pledge=True,
                accept_authorization=True,
                accept_privacy=True,
                locale="zh_Hans_CN",
                shown_hash=texts_hash("zh_Hans_CN"),
            )
            reference = result.reference
            db.session.commit()
            return reference
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


def test_the_same_submission_at_once_makes_one_application(live_app):
    [(user_id, app_id)] = _ready_draft(live_app)
    results = _run_all(lambda: _submit(live_app, user_id, app_id), [()] * THREADS)
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    with live_app.app_context():
        apps = db.session.scalars(sa.select(Application)).all()
        assert len(apps) == 1
        assert apps[0].status is Status.CHECKING
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonClaim)) == 1


def _add_spouse_and_submit(app, user_id, app_id, spouse):
    from portal.accounts.models import User

    with app.test_request_context():
        try:
            user = db.session.get(User, user_id)
            draft = db.session.get(Application, app_id)
            services.add_member(
                draft, user, name="李梅", id_number=spouse, relationship=Relationship.SPOUSE
            )
            db.session.commit()
            draft = db.session.get(Application, app_id)
            services.submit(
                draft,
                user,
                accept_pledge=True,
                accept_authorization=True,
                accept_privacy=True,
                locale="zh_Hans_CN",
                shown_hash=texts_hash("zh_Hans_CN"),
            )
            db.session.commit()
            return "submitted"
        except DuplicateApplication:
            db.session.rollback()
            return "duplicate"
        finally:
            db.session.remove()


def test_one_person_in_two_households_at_once_lands_in_one(live_app):
    drafts = _ready_draft(live_app, THREADS)
    spouse = make_id_number("450302", date(1990, 2, 2), 77)
    results = _run_all(lambda u, a: _add_spouse_and_submit(live_app, u, a, spouse), drafts)
    assert results.count("submitted") == 1, results
    assert results.count("duplicate") == THREADS - 1
    with live_app.app_context():
        from portal.accounts.services import id_index

        with live_app.test_request_context():
            claim = db.session.get(PersonClaim, id_index(spouse))
            assert claim is not None

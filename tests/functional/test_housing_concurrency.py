"""One unit, many officers at once (SECURITY.md F1): the row lock lets exactly one offer or
let it; the others see what the first did and are refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.core.errors import Conflict
from portal.extensions import db
from portal.housing import services
from portal.housing.models import Unit, UnitStatus
from tests.functional.test_concurrency import _run_all, live_app  # noqa: F401 (fixture)

pytestmark = pytest.mark.no_transaction
THREADS = 8


def _vacant_unit(app) -> int:
    from tests.factories.housing import UnitFactory

    with app.test_request_context():
        unit = UnitFactory()
        db.session.commit()
        return unit.id


def _act(app, action, unit_id: int) -> str:
    with app.test_request_context():
        try:
            unit = db.session.get(Unit, unit_id)
            action(unit, "system:test")
            db.session.commit()
            return "done"
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


@pytest.mark.parametrize("action", [services.offer_in_round, services.let_unit])
def test_one_unit_at_once_exactly_one_succeeds(live_app, action):  # noqa: F811
    unit_id = _vacant_unit(live_app)
    results = _run_all(lambda: _act(live_app, action, unit_id), [()] * THREADS)
    assert results.count("done") == 1, results
    assert all(isinstance(r, Conflict) for r in results if r != "done"), results
    with live_app.app_context():
        status = db.session.scalar(sa.select(Unit.status).where(Unit.id == unit_id))
        assert status in (UnitStatus.IN_ROUND, UnitStatus.OCCUPIED)

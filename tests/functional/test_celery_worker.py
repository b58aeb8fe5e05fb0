"""Jobs through a real Celery worker and the local Redis (docs/jobs.md).

The worker is the command operators run (``celery -A portal.jobs.worker worker``), in a
process of its own, configured through the environment and sharing a fresh database with
this process, which plays the web server. Redis answers at 127.0.0.1:6379 in CI; elsewhere
the module is skipped when it does not. Only Redis database 15 is used, with a queue of this
run's own (pytest workers may run this module at once), and only that queue's keys are
deleted at the end; the results expire by themselves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask_migrate import upgrade

from portal import create_app
from portal.applications.models import Programme
from portal.config import TestConfig
from portal.extensions import db
from portal.jobs import enqueue
from portal.jobs.celery import celery_app
from portal.jobs.models import JobRun, RunStatus
from portal.notifications.models import OutboxItem
from portal.notifications.services import notify
from portal.verification import services as verification
from portal.verification.models import CheckStatus, DepartmentCheck
from tests.conftest import RUN_ID, _drop_postgres, _postgres_url

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"  # the tests' own database


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis(REDIS_HOST, REDIS_PORT, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


REDIS_UP = _redis_answers()
IN_CI = bool(os.environ.get("CI"))

pytestmark = [
    pytest.mark.no_transaction,
    pytest.mark.skipif(
        not REDIS_UP and not IN_CI, reason="no Redis at 127.0.0.1:6379 (CI has one)"
    ),
]


def _wait_for(condition, timeout: float = 30, what: str = "the worker"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, worker_id):
    """(web app, Celery app, worker log): a fresh database, a queue of our own, and a Celery
    worker process with two child processes."""
    if not REDIS_UP:
        pytest.fail("CI is set but Redis does not answer at 127.0.0.1:6379")
    tmp = tmp_path_factory.mktemp("celery")
    queue = f"portal-test-{RUN_ID}-{worker_id}"
    base = os.environ.get("TEST_DATABASE_URL")
    url = _postgres_url(base, f"celery_{worker_id}") if base else f"sqlite:///{tmp / 'c.db'}"
    settings = {"REDIS_URL": REDIS_URL, "JOBS_EAGER": False, "JOBS_QUEUE": queue}
    web = create_app(
        TestConfig, instance_path=str(tmp / "web"), SQLALCHEMY_DATABASE_URI=url, **settings
    )
    with web.app_context():
        upgrade()

    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE_URL": url,
        "PORTAL_REDIS_URL": REDIS_URL,
        "PORTAL_JOBS_EAGER": "0",
        "PORTAL_JOBS_QUEUE": settings["JOBS_QUEUE"],
        "PORTAL_INSTANCE_PATH": str(tmp / "worker"),
        "PORTAL_LOG_JSON": "0",
        "PYTHONPATH": str(ROOT),
    }
    log = tmp / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "portal.jobs.worker",
                "worker",
                "--loglevel=info",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{queue}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(
            lambda: proc.poll() is not None or b" ready." in log.read_bytes(),
            what="the worker to start",
        )
        assert proc.poll() is None, log.read_text(errors="replace")
        yield web, celery_app(web), log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        broker = redis.Redis.from_url(REDIS_URL)
        for key in broker.scan_iter(f"*{queue}*"):
            broker.delete(key)
        with web.app_context():
            db.session.remove()
            db.engine.dispose()
        if base:
            _drop_postgres(base, url)


def _worker_log(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def test_a_submission_is_checked_by_the_worker_after_it_commits(stack):
    from tests.factories import DistrictFactory, ResidentFactory
    from tests.factories.applications import draft_for, submit
    from tests.factories.registry import local_household

    web, _celery, log = stack
    with web.test_request_context():
        district = DistrictFactory(code="450302")
        resident = ResidentFactory()
        local_household((resident.real_name, resident.id_number))
        db.session.commit()
        app = submit(draft_for(resident, district, Programme.PUBLIC_RENTAL), resident)
        app_id = app.id
        assert {c.status for c in verification.checks_of(app)} == {CheckStatus.PENDING}
        db.session.commit()  # only now does the worker hear of it
        db.session.remove()

    def statuses():
        with web.app_context():
            found = set(
                db.session.scalars(
                    sa.select(DepartmentCheck.status).where(
                        DepartmentCheck.application_id == app_id
                    )
                )
            )
            db.session.remove()
            return found if CheckStatus.PENDING not in found else None

    try:
        assert _wait_for(statuses, what="the department checks") == {CheckStatus.MATCH}
    except AssertionError:
        pytest.fail(_worker_log(log))


def test_the_outbox_is_delivered_by_the_worker(stack):
    from tests.factories import ResidentFactory

    web, _celery, log = stack
    with web.test_request_context():
        notify(ResidentFactory(email="w@example.org"), "approved", {"reference": "GL2026000009"})
        enqueue("outbox.deliver")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxItem)) >= 2
        db.session.commit()
        db.session.remove()

    def unsent():  # the e-mail and the text message, and anything sent before
        with web.app_context():
            left = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.sent_at.is_(None))
            )
            db.session.remove()
            return left == 0

    try:
        _wait_for(unsent, what="the outbox to be delivered")
    except AssertionError:
        pytest.fail(_worker_log(log))


def test_the_same_periodic_task_sent_twice_runs_once(stack):
    web, celery, log = stack
    first = celery.send_task("notices.close_due")
    second = celery.send_task("notices.close_due")  # a second beat, or a redelivery
    try:
        results = [first.get(timeout=30), second.get(timeout=30)]
    except Exception:
        pytest.fail(_worker_log(log))
    assert sorted(r["status"] for r in results) == ["done", "skipped"]
    assert results[0]["period"] == results[1]["period"]
    with web.app_context():
        runs = db.session.scalars(sa.select(JobRun).where(JobRun.name == "notices.close_due"))
        [run] = runs.all()
        assert (run.status, run.attempts, run.period_key) == (
            RunStatus.DONE,
            1,
            results[0]["period"],
        )
        db.session.remove()

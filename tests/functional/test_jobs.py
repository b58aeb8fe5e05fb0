"""Background jobs without Redis (docs/jobs.md): a job asked for runs at once in the same
transaction; with Redis it is sent only when the transaction commits; scheduled jobs run
once per period, however many runners ask, and a failed run is recorded and taken again."""

from __future__ import annotations

import html
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.config import TestConfig
from portal.core.clock import CITY_TZ, utcnow
from portal.extensions import db
from portal.jobs import core, registry
from portal.jobs.core import Job, Schedule, enqueue, execute, period_key, run_due
from portal.jobs.models import JobRun, RunStatus
from portal.notifications.models import Message, OutboxItem
from portal.notifications.services import notify
from portal.verification import services as verification
from portal.verification.models import CheckStatus
from tests.conftest import PortalClient, own_database_app
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, submit
from tests.factories.registry import local_household

SCHEDULED = {
    "outbox.deliver",
    "applications.expire_due",
    "notices.close_due",
    "verification.resume_pending",
    "jobs.prune",
    "housekeeping",
    "waitlist.reverify_due",
    "waitlist.remove_unanswered",
    "waitlist.daily_rerank",
    "rounds.expire_turns",
    "credit.expire_due",
    "tenancy.charge_rent",
    "tenancy.remind_arrears",
    "tenancy.exits_overdue",
    "reviews.open_due",
    "renewals.ask_due",
    "subsidy.mark_lapsed",
}


def city_time(*args) -> datetime:
    return datetime(*args, tzinfo=CITY_TZ).astimezone(UTC)


class FakeMail:
    def __init__(self):
        self.sent = []

    def send(self, to, subject, body):
        self.sent.append((to, subject))


class FakeSms:
    def __init__(self):
        self.sent = []

    def send(self, mobile, text):
        self.sent.append(mobile)


@pytest.fixture
def senders(app):
    mail, sms = FakeMail(), FakeSms()
    app.extensions["portal.mail"], app.extensions["portal.sms"] = mail, sms
    yield mail, sms
    app.extensions.pop("portal.mail")
    app.extensions.pop("portal.sms")


@pytest.fixture
def sent(monkeypatch):
    """What would have gone to the broker, instead of a broker."""
    messages = []
    monkeypatch.setattr(core, "_send", lambda p: messages.append((p.name, p.kwargs)))
    return messages


@pytest.fixture
def with_redis(app, monkeypatch, sent):
    """The application configured for Celery workers (the broker replaced by ``sent``)."""
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setitem(app.config, "JOBS_EAGER", False)
    return sent


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302")


def runs(name: str) -> list[JobRun]:
    return list(db.session.scalars(sa.select(JobRun).where(JobRun.name == name)))


# --- asking for a job --------------------------------------------------------------------


def test_without_redis_a_submission_asks_the_departments_at_once(db, district, sent):
    resident = ResidentFactory()
    local_household((resident.real_name, resident.id_number))
    app = submit(draft_for(resident, district), resident)
    assert {c.status for c in verification.checks_of(app)} == {CheckStatus.MATCH}
    db.session.commit()
    assert sent == []  # nothing for a broker: it was done in the request


def test_with_redis_the_departments_are_asked_by_a_worker_after_the_commit(
    db, district, resident, resident_client, with_redis
):
    resident_client.set_cookie("locale", "en", domain="portal.test")
    local_household((resident.real_name, resident.id_number))
    app = submit(draft_for(resident, district), resident)
    checks = verification.checks_of(app)
    assert {c.status for c in checks} == {CheckStatus.PENDING}
    assert with_redis == []  # the submission is not committed: a worker could not see it
    db.session.commit()
    assert with_redis == [("verification.run_checks", {"application_id": app.id})]

    page = html.unescape(resident_client.get(f"/applications/{app.id}").get_data(as_text=True))
    assert page.count("Waiting for the department") >= len(checks)

    # the worker's turn
    assert execute("verification.run_checks", {"application_id": app.id}).result == {
        "checked": len(checks)
    }
    db.session.expire_all()
    assert {c.status for c in verification.checks_of(app)} == {CheckStatus.MATCH}
    page = html.unescape(resident_client.get(f"/applications/{app.id}").get_data(as_text=True))
    assert "Waiting for the department" not in page
    assert "Data found, consistent" in page
    # a second delivery of the same job finds nothing left to ask
    assert execute("verification.run_checks", {"application_id": app.id}).result == {"checked": 0}


def test_a_job_asked_for_in_work_that_is_rolled_back_is_never_sent(db, with_redis):
    db.session.execute(sa.text("SELECT 1"))  # a transaction is open
    enqueue("outbox.deliver")
    db.session.rollback()
    db.session.commit()
    assert with_redis == []

    db.session.execute(sa.text("SELECT 1"))
    enqueue("verification.run_checks", application_id=1)
    try:
        with db.session.begin_nested():
            enqueue("verification.run_checks", application_id=2)
            raise RuntimeError("this step fails")
    except RuntimeError:
        pass
    with db.session.begin_nested():
        enqueue("verification.run_checks", application_id=3)
    db.session.commit()
    assert with_redis == [
        ("verification.run_checks", {"application_id": 1}),
        ("verification.run_checks", {"application_id": 3}),
    ]


def test_a_job_must_exist_and_take_json(db):
    with pytest.raises(KeyError):
        enqueue("no.such.job")
    with pytest.raises(TypeError):
        enqueue("verification.run_checks", application_id=object())


# --- once per period ---------------------------------------------------------------------


def test_run_due_runs_each_due_job_once_in_its_period(db, senders):
    mail, sms = senders
    notify(ResidentFactory(email="a@example.org"), "approved", {"reference": "GL2026000001"})
    db.session.commit()
    noon = city_time(2026, 11, 21, 12, 10, 30)

    first = run_due(now=noon)
    assert {o.job for o in first} == SCHEDULED
    assert {o.status for o in first} == {"done"}
    assert len(mail.sent) == 1
    assert len(sms.sent) == 1
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxItem).where(OutboxItem.sent_at.is_(None))
        )
        == 0
    )
    keys = {r.name: r.period_key for r in db.session.scalars(sa.select(JobRun))}
    assert keys["outbox.deliver"] == "2026-11-21T12:10"
    assert keys["verification.resume_pending"] == "2026-11-21T12"
    assert keys["notices.close_due"] == "2026-11-21"

    again = run_due(now=noon + timedelta(seconds=20))
    assert {o.status for o in again} == {"skipped"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == len(SCHEDULED)

    next_minute = run_due(now=noon + timedelta(minutes=1))
    assert [o.job for o in next_minute if o.status == "done"] == ["outbox.deliver"]
    assert len(mail.sent) == 1  # the message went out once


def test_a_daily_job_waits_for_its_time_of_day(db):
    just_after_midnight = city_time(2026, 11, 21, 0, 5)
    due = {j.name for j in core.due_jobs(just_after_midnight)}
    assert "outbox.deliver" in due
    assert "notices.close_due" not in due  # daily at 00:20
    assert "notices.close_due" in {j.name for j in core.due_jobs(city_time(2026, 11, 21, 0, 20))}


def test_periods_are_named_in_the_citys_time():
    late_utc = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 01:30 on 1 December in Guilin
    assert period_key("month", late_utc) == "2026-12"
    assert period_key("day", late_utc) == "2026-12-01"
    assert period_key("year", late_utc) == "2026"
    assert Schedule("month", day=1, hour=3).due_at(late_utc) == datetime(
        2026, 12, 1, 3, 0, tzinfo=CITY_TZ
    )


@pytest.fixture
def monthly(monkeypatch):
    """A monthly job whose runs are counted, failing while ``failures`` is above zero."""
    state = {"calls": 0, "failures": 0}

    def work():
        state["calls"] += 1
        notify(ResidentFactory(), "approved", {"reference": f"GL{state['calls']:010d}"})
        if state["failures"] > 0:
            state["failures"] -= 1
            raise RuntimeError("the department platform is down")
        return {"call": state["calls"]}

    monkeypatch.setitem(registry.JOBS, "test.monthly", Job("test.monthly", work, period="month"))
    return state


def messages() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Message))


def test_a_failed_run_is_recorded_rolled_back_and_taken_again(db, monthly):
    monthly["failures"] = 1
    with pytest.raises(RuntimeError):
        execute("test.monthly", period="2026-11")
    [run] = runs("test.monthly")
    assert run.status is RunStatus.FAILED
    assert run.error == "RuntimeError: the department platform is down"
    assert run.attempts == 1
    assert messages() == 0  # the failed run's work was rolled back

    outcome = execute("test.monthly", period="2026-11")
    assert outcome.status == "done"
    db.session.expire_all()
    [run] = runs("test.monthly")
    assert run.status is RunStatus.DONE
    assert run.attempts == 2
    assert run.error is None
    assert run.summary == '{"call": 2}'
    assert messages() == 1

    assert execute("test.monthly", period="2026-11").status == "skipped"
    assert monthly["calls"] == 2


def test_a_job_that_keeps_failing_waits_for_an_operator(app, db, monthly, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_MAX_ATTEMPTS", 3)
    monthly["failures"] = 99
    for _ in range(3):
        with pytest.raises(RuntimeError):
            execute("test.monthly", period="2026-11")
    assert execute("test.monthly", period="2026-11").status == "skipped"
    assert monthly["calls"] == 3
    monthly["failures"] = 0
    assert execute("test.monthly", period="2026-11", force=True).status == "done"  # jobs run
    assert runs("test.monthly")[0].attempts == 4


def test_a_run_whose_worker_died_is_taken_over_after_its_time(db, monthly):
    db.session.add(
        JobRun(
            name="test.monthly",
            period_key="2026-10",
            status=RunStatus.RUNNING,
            started_at=utcnow() - timedelta(minutes=61),
        )
    )
    db.session.add(
        JobRun(
            name="test.monthly",
            period_key="2026-11",
            status=RunStatus.RUNNING,
            started_at=utcnow() - timedelta(minutes=5),
        )
    )
    db.session.commit()
    assert execute("test.monthly", period="2026-11").status == "skipped"  # still at work
    assert execute("test.monthly", period="2026-10").status == "done"
    assert monthly["calls"] == 1


def test_a_periodic_job_asked_for_in_process_runs_once_in_its_period(db, senders):
    notify(ResidentFactory(email="b@example.org"), "approved", {"reference": "GL2026000002"})
    first = enqueue("outbox.deliver")
    assert first.status == "done"
    assert first.result == {"sent": 2, "failed": 0}
    assert enqueue("outbox.deliver").status == "skipped"
    [run] = runs("outbox.deliver")
    assert run.period_key == period_key("minute")


# --- two runners at once, with real commits ----------------------------------------------


@pytest.fixture
def live_app(tmp_path, worker_id):
    with own_database_app(tmp_path, f"jobs_{worker_id}") as app:
        app.test_client_class = PortalClient
        yield app


def _run_all(target, n: int) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def work(i):
        barrier.wait()
        try:
            results[i] = target()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.no_transaction
def test_runners_claiming_the_same_period_at_once_run_the_job_once(live_app, monkeypatch):
    calls = []

    def slow():
        calls.append(threading.get_ident())
        time.sleep(0.5)  # every other runner arrives while this one works
        return {"done": True}

    monkeypatch.setitem(registry.JOBS, "test.monthly", Job("test.monthly", slow, period="month"))

    def runner():
        with live_app.app_context():
            try:
                return execute("test.monthly").status
            finally:
                db.session.remove()

    results = _run_all(runner, 4)
    assert sorted(results) == ["done", "skipped", "skipped", "skipped"], results
    assert len(calls) == 1
    with live_app.app_context():
        [run] = db.session.scalars(sa.select(JobRun)).all()
        assert (run.status, run.attempts) == (RunStatus.DONE, 1)


@pytest.mark.no_transaction
def test_the_commands_list_run_and_run_due(live_app):
    cli = live_app.test_cli_runner()
    first = cli.invoke(args=["portal", "jobs", "run-due"])
    assert first.exit_code == 0, first.output
    assert "outbox.deliver [" in first.output
    assert 'done: {"failed": 0, "sent": 0}' in first.output
    assert cli.invoke(args=["portal", "jobs", "run-due"]).output.count("outbox.deliver") <= 1

    ran = cli.invoke(args=["portal", "jobs", "run", "notices.close_due", "--period", "2026-11-21"])
    assert ran.exit_code == 0, ran.output
    assert 'notices.close_due [2026-11-21] done: {"qualified": 0}' in ran.output
    again = cli.invoke(
        args=["portal", "jobs", "run", "notices.close_due", "--period", "2026-11-21"]
    )
    assert "skipped" in again.output  # its day has run: an operator cannot run it twice

    listing = cli.invoke(args=["portal", "jobs", "list"]).output
    line = next(x for x in listing.splitlines() if x.startswith("notices.close_due"))
    assert "daily at 00:20" in line
    assert "2026-11-21" in line
    assert "done" in line
    line = next(x for x in listing.splitlines() if x.startswith("verification.run_checks"))
    assert "on demand" in line

    ran = cli.invoke(
        args=["portal", "jobs", "run", "verification.run_checks", "--kw", "application_id=9"]
    )
    assert ran.exit_code == 0, ran.output
    assert 'verification.run_checks done: {"checked": 0}' in ran.output

    unknown = cli.invoke(args=["portal", "jobs", "run", "no.such.job"])
    assert unknown.exit_code == 1
    assert "no job named 'no.such.job'" in unknown.output
    bad = cli.invoke(args=["portal", "jobs", "run", "verification.run_checks", "--kw", "oops"])
    assert bad.exit_code == 2
    assert "use key=value" in bad.output
    queued = cli.invoke(args=["portal", "jobs", "run", "outbox.deliver", "--enqueue"])
    assert queued.exit_code == 1
    assert "PORTAL_REDIS_URL is not set" in queued.output


# --- the Celery side, without a broker ---------------------------------------------------


def test_celery_gets_one_task_per_job_and_beat_the_registry_schedule(tmp_path, database_url):
    from portal.jobs.celery import celery_app

    app = create_app(
        TestConfig,
        instance_path=str(tmp_path / "i"),
        SQLALCHEMY_DATABASE_URI=database_url,
        REDIS_URL="redis://127.0.0.1:6379/15",
    )
    celery = celery_app(app)
    assert set(registry.JOBS) <= set(celery.tasks)
    assert all(celery.tasks[name].acks_late for name in registry.JOBS)
    beat = celery.conf.beat_schedule
    assert set(beat) == SCHEDULED
    close = beat["notices.close_due"]["schedule"]
    assert (close.hour, close.minute) == ({0}, {20})
    assert celery.conf.timezone == "Asia/Shanghai"
    assert celery.conf.broker_url == "redis://127.0.0.1:6379/15"
    with app.app_context():
        db.engine.dispose()

"""How a job runs: in-process or through Celery, once per period, committed once.

A job is a plain function that works through the services (flush, never commit). The runner
gives it an application context and one transaction: its work commits when it returns and
rolls back when it raises. A job with a ``period`` first *claims* the period with a
``job_runs`` row (unique per job and period, committed on its own), so two workers, two
beats or a cron ``run-due`` on another machine run it once between them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from portal.core.clock import CITY_TZ, utcnow
from portal.extensions import db
from portal.jobs.models import JobRun, RunStatus

log = logging.getLogger(__name__)

# The claim's granularity and how a period is named, in the city's time.
PERIOD_FORMATS = {
    "minute": "%Y-%m-%dT%H:%M",
    "hour": "%Y-%m-%dT%H",
    "day": "%Y-%m-%d",
    "month": "%Y-%m",
    "year": "%Y",
}


def period_key(period: str, now: datetime | None = None) -> str:
    """The name of the period ``now`` falls in: ``2026-11`` for a month."""
    return (now or utcnow()).astimezone(CITY_TZ).strftime(PERIOD_FORMATS[period])


@dataclass(frozen=True)
class Schedule:
    """Once per ``period``, at a time in the city's time zone: ``Schedule("day", hour=1)`` is
    daily at 01:00, ``Schedule("month", day=1, hour=3)`` the first of each month at 03:00."""

    period: str
    minute: int = 0
    hour: int = 0
    day: int = 1  # day of the month (monthly and yearly jobs); at most 28
    month: int = 1  # month of the year (yearly jobs)

    def __post_init__(self) -> None:
        if self.period not in PERIOD_FORMATS:
            raise ValueError(f"unknown period {self.period!r}")
        if not (0 <= self.minute < 60 and 0 <= self.hour < 24 and 1 <= self.day <= 28):
            raise ValueError("minute 0-59, hour 0-23, day 1-28")

    def due_at(self, now: datetime) -> datetime:
        """When the job becomes due in the period ``now`` falls in."""
        local = now.astimezone(CITY_TZ).replace(second=0, microsecond=0)
        if self.period == "minute":
            return local
        local = local.replace(minute=self.minute)
        if self.period == "hour":
            return local
        local = local.replace(hour=self.hour)
        if self.period == "day":
            return local
        local = local.replace(day=self.day)
        if self.period == "month":
            return local
        return local.replace(month=self.month)

    def crontab(self):
        """The same schedule for Celery beat (whose time zone is the city's)."""
        from celery.schedules import crontab

        fields = {
            "minute": {},
            "hour": {"minute": self.minute},
            "day": {"minute": self.minute, "hour": self.hour},
            "month": {"minute": self.minute, "hour": self.hour, "day_of_month": self.day},
            "year": {
                "minute": self.minute,
                "hour": self.hour,
                "day_of_month": self.day,
                "month_of_year": self.month,
            },
        }[self.period]
        return crontab(**fields)

    def describe(self) -> str:
        at = f"{self.hour:02d}:{self.minute:02d}"
        return {
            "minute": "every minute",
            "hour": f"hourly at :{self.minute:02d}",
            "day": f"daily at {at}",
            "month": f"monthly on day {self.day} at {at}",
            "year": f"yearly on {self.month:02d}-{self.day:02d} at {at}",
        }[self.period]


@dataclass(frozen=True)
class Job:
    """A named unit of background work. ``schedule``: when beat and ``run-due`` start it
    (None: only on demand). ``period``: it runs at most once per period (defaults to the
    schedule's). ``max_minutes``: a run still marked running after this is taken to have died
    and may be claimed again; Celery stops the job at this limit."""

    name: str
    func: Callable[..., Any]
    schedule: Schedule | None = None
    period: str | None = None
    max_minutes: int = 60

    def __post_init__(self) -> None:
        if self.period is None and self.schedule is not None:
            object.__setattr__(self, "period", self.schedule.period)
        if self.period is not None and self.period not in PERIOD_FORMATS:
            raise ValueError(f"unknown period {self.period!r}")


@dataclass
class Outcome:
    """What one request to run a job came to: ``done``, ``skipped`` (its period was already
    claimed) or ``failed``."""

    job: str
    status: str
    period: str | None = None
    result: Any = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "period": self.period,
            "result": _jsonable(self.result),
            "error": self.error,
        }

    def __str__(self) -> str:
        where = f" [{self.period}]" if self.period else ""
        detail = f": {_summary(self.result)}" if self.status == "done" and self.result else ""
        if self.error:
            detail = f": {self.error}"
        return f"{self.job}{where} {self.status}{detail}"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _summary(result: Any) -> str | None:
    if result is None:
        return None
    return json.dumps(result, default=str, ensure_ascii=False, sort_keys=True)[:200]


def jobs() -> dict[str, Job]:
    """Every job by name (``portal/jobs/registry.py``)."""
    from portal.jobs.registry import JOBS

    return JOBS


def get_job(name: str) -> Job:
    try:
        return jobs()[name]
    except KeyError:
        raise KeyError(f"no job named {name!r}") from None


def runs_async(app: Flask | None = None) -> bool:
    """True when jobs go to Celery workers: Redis is configured and not ``JOBS_EAGER``."""
    cfg = (app or current_app).config
    return bool(cfg.get("REDIS_URL")) and not cfg.get("JOBS_EAGER")


# --- claiming a period -------------------------------------------------------------------


def last_run(name: str) -> JobRun | None:
    return db.session.scalars(
        sa.select(JobRun).where(JobRun.name == name).order_by(JobRun.started_at.desc()).limit(1)
    ).first()


def claim(job: Job, key: str, *, force: bool = False) -> JobRun | None:
    """Take the period ``key`` for ``job``; None when another runner has it or had it.

    A new period is an INSERT that only one runner can make (the unique key). A failed run,
    or one still "running" past ``max_minutes`` (its worker died), is taken over under a row
    lock, up to ``JOBS_MAX_ATTEMPTS`` attempts in the period unless ``force`` (an operator's
    ``jobs run``). Flushes; the caller commits.
    """
    now = utcnow()
    where = (JobRun.name == job.name, JobRun.period_key == key)
    if db.session.scalars(sa.select(JobRun.id).where(*where)).first() is None:
        run = JobRun(
            name=job.name, period_key=key, status=RunStatus.RUNNING, attempts=1, started_at=now
        )
        try:
            with db.session.begin_nested():
                db.session.add(run)
            return run
        except IntegrityError:
            pass  # another runner inserted it first: see what it is doing
    run = db.session.scalars(
        sa.select(JobRun).where(*where).with_for_update().execution_options(populate_existing=True)
    ).one()
    stale = run.status is RunStatus.RUNNING and run.started_at < now - timedelta(
        minutes=job.max_minutes
    )
    if run.status is not RunStatus.FAILED and not stale:
        return None
    if not force and run.attempts >= int(current_app.config.get("JOBS_MAX_ATTEMPTS", 5)):
        return None
    run.status = RunStatus.RUNNING
    run.attempts += 1
    run.started_at = now
    run.finished_at = None
    db.session.flush()
    return run


def _finish(run: JobRun, result: Any) -> None:
    run.status = RunStatus.DONE
    run.finished_at = utcnow()
    run.summary = _summary(result)
    run.error = None
    db.session.flush()


def _record_failure(run_id: int, exc: BaseException) -> None:
    """In a transaction of its own, after the job's work was rolled back."""
    try:
        run = db.session.get(JobRun, run_id)
        run.status = RunStatus.FAILED
        run.finished_at = utcnow()
        run.error = f"{type(exc).__name__}: {exc}"[:300]
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not record the failure of job run %s", run_id)


# --- running -----------------------------------------------------------------------------


def execute(
    name: str,
    kwargs: dict[str, Any] | None = None,
    *,
    period: str | None = None,
    now: datetime | None = None,
    force: bool = False,
) -> Outcome:
    """Run a job here and now as its own unit of work (a worker, a command): claim its
    period (committed), run it, commit. On error the job's work is rolled back, the run is
    recorded failed, and the exception propagates. Needs an application context whose
    session has nothing pending."""
    job = get_job(name)
    run_id = None
    key = None
    if job.period:
        key = period or period_key(job.period, now)
        run = claim(job, key, force=force)
        db.session.commit()
        if run is None:
            return Outcome(name, "skipped", key)
        run_id = run.id
    try:
        result = job.func(**(kwargs or {}))
        if run_id is not None:
            _finish(db.session.get(JobRun, run_id), result)
        db.session.commit()
    except BaseException as exc:
        db.session.rollback()
        log.exception("job %s failed", name)
        if run_id is not None:
            _record_failure(run_id, exc)
        raise
    return Outcome(name, "done", key, result)


def run_inline(name: str, kwargs: dict[str, Any]) -> Outcome:
    """Run a job inside the caller's transaction (no commit): what :func:`enqueue` does
    without Redis. A periodic job still claims its period, under a savepoint; whatever goes
    wrong rolls back with the caller's work."""
    job = get_job(name)
    run = None
    key = None
    if job.period:
        key = period_key(job.period)
        run = claim(job, key)
        if run is None:
            return Outcome(name, "skipped", key)
    result = job.func(**kwargs)
    if run is not None:
        _finish(run, result)
    return Outcome(name, "done", key, result)


def due_jobs(now: datetime | None = None) -> list[Job]:
    """Scheduled jobs whose time in the current period has come."""
    now = now or utcnow()
    return [j for j in jobs().values() if j.schedule and now >= j.schedule.due_at(now)]


def run_due(now: datetime | None = None) -> list[Outcome]:
    """Run every scheduled job that is due and has not run in its current period (the
    single-machine scheduler: cron calls this every minute). One job failing does not stop
    the others."""
    now = now or utcnow()
    outcomes = []
    for job in due_jobs(now):
        key = period_key(job.period, now)
        try:
            outcomes.append(execute(job.name, period=key))
        except Exception as exc:
            outcomes.append(Outcome(job.name, "failed", key, error=f"{type(exc).__name__}: {exc}"))
    return outcomes


# --- enqueueing --------------------------------------------------------------------------

_PENDING = "portal.jobs.pending"
_HOOKED = "portal.jobs.hooked"


@dataclass
class _Pending:
    app: Flask
    name: str
    kwargs: dict[str, Any]
    transaction: SessionTransaction | None = field(repr=False, default=None)


def enqueue(name: str, **kwargs: Any) -> Outcome | None:
    """Ask for a job to run.

    With Celery (``PORTAL_REDIS_URL`` set, ``PORTAL_JOBS_EAGER`` off) the job is sent when
    the current transaction commits, so a worker never sees a job about data it cannot read
    yet; if the transaction (or the savepoint the call was made in) rolls back, nothing is
    sent. Returns None then. Otherwise the job runs now, in this transaction, and its
    :class:`Outcome` is returned. ``kwargs`` must be JSON: that is what goes to the worker.
    """
    get_job(name)
    json.dumps(kwargs)  # fail here, in both modes, if a worker could not receive them
    if not runs_async():
        return run_inline(name, kwargs)
    session = db.session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    pending = _Pending(current_app._get_current_object(), name, dict(kwargs), transaction)
    if transaction is None:  # nothing uncommitted the job could depend on
        _send(pending)
        return None
    _hook(session)
    session.info.setdefault(_PENDING, []).append(pending)
    return None


def _hook(session: Session) -> None:
    if session.info.get(_HOOKED):
        return
    event.listen(session, "after_commit", _after_commit)
    event.listen(session, "after_soft_rollback", _after_soft_rollback)
    event.listen(session, "after_transaction_end", _after_transaction_end)
    session.info[_HOOKED] = True


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; the transaction itself is still open
    for pending in session.info.pop(_PENDING, []):
        _send(pending)


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    """Forget jobs asked for inside the transaction or savepoint that was rolled back."""

    def inside(tx: SessionTransaction | None) -> bool:
        while tx is not None:
            if tx is previous:
                return True
            tx = tx.parent
        return False

    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [p for p in pending if not inside(p.transaction)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # closed without a commit (after_commit emptied the list)
        session.info.pop(_PENDING, None)


def _send(pending: _Pending) -> None:
    """Give the job to the broker. The data are committed already, so a broker that is down
    must not fail the request: the error is logged, and ``verification.resume_pending``
    asks again for department checks left waiting."""
    from portal.jobs.celery import celery_app

    try:
        celery_app(pending.app).send_task(pending.name, kwargs=pending.kwargs)
    except Exception:
        log.exception("could not send job %s %s to the broker", pending.name, pending.kwargs)

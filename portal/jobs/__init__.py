"""Background jobs: the department checks, the outbox, and scheduled work (docs/jobs.md).

With ``PORTAL_REDIS_URL`` set, :func:`enqueue` hands a job to Celery workers once the current
transaction commits; without it (the embedded default) the job runs at once, in-process, in
the same transaction. Scheduled jobs run from Celery beat or ``flask portal jobs run-due``,
and a job with a period runs once per period, however many runners ask for it.
"""

from __future__ import annotations

from flask import Flask

from portal.jobs.core import Job, Outcome, Schedule, enqueue, execute, run_due, runs_async

__all__ = ["Job", "Outcome", "Schedule", "enqueue", "execute", "init_app", "run_due", "runs_async"]


def init_app(app: Flask) -> None:
    """Make the ``job_runs`` table known, and with Redis configured, the Celery app."""
    from portal.jobs import models  # noqa: F401 - the table is part of the metadata

    if app.config.get("REDIS_URL"):
        from portal.jobs.celery import celery_init_app

        celery_init_app(app)

"""Celery, the Flask way: every task runs inside the application's context.

One task per job of the registry, named as the job; beat's schedule comes from the same
registry. Broker and result backend are ``PORTAL_REDIS_URL``. Tasks are acknowledged after
they finish (``acks_late``), so a worker that dies mid-job leaves its task to another one;
the period claim keeps that from running a periodic job twice.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from celery import Celery, Task
from flask import Flask

from portal.core.clock import CITY_TZ

# Errors that may pass by themselves (the database or a network restarting): retried with
# a growing delay. Anything else fails the run at once; the next period runs as usual.
TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, ConnectionError, TimeoutError)
RETRY_BASE_SECONDS = 15
RETRY_MAX_SECONDS = 600


def celery_init_app(app: Flask) -> Celery:
    """Build the Celery app for ``app`` (kept in ``app.extensions["portal.celery"]``)."""
    from portal.jobs.core import jobs

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    registry = jobs()
    longest = max(job.max_minutes for job in registry.values())
    url = app.config["REDIS_URL"]
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=url,
        result_backend=url,
        result_expires=3600,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=app.config.get("JOBS_QUEUE") or "portal",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # an unacknowledged task goes back to the queue after this; it must outlast the
        # longest job, or a job still running would be handed to a second worker
        broker_transport_options={"visibility_timeout": 2 * 60 * longest},
        broker_connection_retry_on_startup=True,
        # a request that enqueues must not hang on a broker that is down
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        timezone=CITY_TZ.key,
        enable_utc=True,
        beat_schedule={
            job.name: {"task": job.name, "schedule": job.schedule.crontab()}
            for job in registry.values()
            if job.schedule is not None
        },
    )
    for job in registry.values():
        _register(celery, job)
    app.extensions["portal.celery"] = celery
    return celery


def celery_app(app: Flask) -> Celery:
    """The Celery app of ``app``; it exists only when ``PORTAL_REDIS_URL`` is set."""
    celery = app.extensions.get("portal.celery")
    if celery is None:
        raise RuntimeError("PORTAL_REDIS_URL is not set: jobs run in-process, no Celery")
    return celery


def _register(celery: Celery, job) -> None:
    from portal.jobs.core import execute, period_key

    limit = job.max_minutes * 60

    def run(self, _period: str | None = None, **kwargs):
        # The period is fixed at the first attempt: a retry after midnight still belongs
        # to the day it was meant for.
        key = _period or (period_key(job.period) if job.period else None)
        try:
            outcome = execute(job.name, kwargs, period=key)
        except TRANSIENT as exc:
            delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**self.request.retries)
            raise self.retry(
                exc=exc,
                kwargs={**kwargs, "_period": key},
                countdown=delay + random.uniform(0, delay / 4),  # noqa: S311 - jitter only
            ) from exc
        return outcome.as_dict()

    run.__name__ = job.name.replace(".", "_")
    run.__doc__ = (job.func.__doc__ or job.name).strip().splitlines()[0]
    celery.task(
        name=job.name,
        shared=False,  # this Celery app only: each Flask app has its own
        bind=True,
        acks_late=True,
        max_retries=4,
        soft_time_limit=limit,
        time_limit=limit + 60,
    )(run)

"""Celery's entry point, for the command line (docs/jobs.md)::

    celery -A portal.jobs.worker worker --loglevel=info      # on every worker machine
    celery -A portal.jobs.worker beat -s instance/celerybeat-schedule   # on ONE machine

The application is configured from the same ``PORTAL_*`` environment as the web servers;
``PORTAL_REDIS_URL`` must be set.
"""

from celery.signals import setup_logging, worker_process_init

from portal import create_app
from portal.core.logging import portal_handler_installed
from portal.extensions import db
from portal.jobs.celery import celery_app

flask_app = create_app()
celery = celery_app(flask_app)


@worker_process_init.connect
def _own_connections(**_kwargs) -> None:
    """A forked worker process must not share the parent's database connections."""
    with flask_app.app_context():
        db.engine.dispose(close=False)


def _keep_portal_logging(**_kwargs) -> None:
    """Celery would replace the root handler; the portal's (JSON, ID numbers masked) stays."""


if portal_handler_installed():  # under the test settings Celery logs as it likes
    setup_logging.connect(_keep_portal_logging, weak=False)

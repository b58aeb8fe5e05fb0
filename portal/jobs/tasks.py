"""The jobs' own functions: thin wrappers over the domain services, each returning a small
JSON summary of what it did (kept on the run and shown by ``flask portal jobs list``)."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from portal.core.clock import utcnow
from portal.core.errors import PortalError
from portal.extensions import db

log = logging.getLogger(__name__)

# Runs of jobs that come round every minute or hour are kept this long; daily, monthly and
# yearly runs (a few hundred rows a year) are kept for good.
KEEP_FREQUENT_RUNS = timedelta(days=2)
# A submission whose department checks are still waiting this long lost its job (a broker
# that was down when it was sent): ask again.
RESUME_AFTER = timedelta(minutes=10)


def deliver_outbox() -> dict[str, int]:
    """Send the e-mails and text messages that are due."""
    from portal.notifications.services import deliver_outbox as deliver

    sent, failed = deliver()
    return {"sent": sent, "failed": failed}


def expire_supplements() -> dict[str, int]:
    """Document requests past their deadline expire; the file goes back to the officer."""
    from portal.applications.services import expire_overdue_supplements

    return {"expired": expire_overdue_supplements()}


def close_due_notices() -> dict[str, int]:
    """Close every notice past its end with no objection open; its households qualify.

    A notice an officer closed meanwhile is skipped, not an error for the others."""
    from portal.notices.services import close_notice, due_notices

    qualified = 0
    for notice in due_notices():
        try:
            with db.session.begin_nested():
                qualified += len(close_notice(None, notice))
        except PortalError as exc:
            log.info("notice %s not closed: %s", notice.id, exc)
    return {"qualified": qualified}


def run_pending_checks(application_id: int) -> dict[str, int]:
    """Ask the departments about one submitted application, for the checks still waiting.

    Idempotent: a check that has an answer is left alone, and the application's row lock
    makes a second run of the same job wait and then find nothing to do."""
    from portal.applications.models import Application
    from portal.verification.models import CheckStatus
    from portal.verification.services import OPEN_STATUSES, checks_of, run_checks

    app = db.session.scalars(
        sa.select(Application)
        .where(Application.id == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if app is None or app.status not in OPEN_STATUSES:
        return {"checked": 0}
    waiting = [c for c in checks_of(app) if c.status is CheckStatus.PENDING]
    if waiting:
        run_checks(app, waiting)
    return {"checked": len(waiting)}


def resume_pending_checks() -> dict[str, int]:
    """Ask again for department checks that have waited too long for their job."""
    from portal.applications.models import Application
    from portal.jobs.core import enqueue
    from portal.verification.models import CheckStatus, DepartmentCheck
    from portal.verification.services import OPEN_STATUSES

    ids = db.session.scalars(
        sa.select(Application.id)
        .where(
            Application.status.in_(OPEN_STATUSES),
            Application.submitted_at < utcnow() - RESUME_AFTER,
            sa.select(DepartmentCheck.id)
            .where(
                DepartmentCheck.application_id == Application.id,
                DepartmentCheck.status == CheckStatus.PENDING,
            )
            .exists(),
        )
        .order_by(Application.id)
        .limit(500)
    ).all()
    for app_id in ids:
        enqueue("verification.run_checks", application_id=app_id)
    return {"resumed": len(ids)}


def build_export(export_id: int) -> None:
    """Write a requested export file (it commits its own progress as it goes)."""
    from portal.exports.services import build_export as build

    build(export_id)


def prune_job_runs() -> dict[str, int]:
    """Keep ``job_runs`` small: forget old runs of the every-minute and hourly jobs."""
    from portal.jobs.core import jobs
    from portal.jobs.models import JobRun, RunStatus

    frequent = [j.name for j in jobs().values() if j.period in ("minute", "hour")]
    result = db.session.execute(
        sa.delete(JobRun).where(
            JobRun.name.in_(frequent),
            JobRun.status != RunStatus.RUNNING,
            JobRun.started_at < utcnow() - KEEP_FREQUENT_RUNS,
        ),
        execution_options={"synchronize_session": False},
    )
    return {"deleted": result.rowcount}


KEEP_RESET_CODES = timedelta(days=1)
KEEP_EXPORTS = timedelta(days=7)


def housekeeping() -> dict[str, int]:
    """Forget what has served its purpose: password-reset codes a day after they expire, and
    exports (file and row) a week after they were made."""
    from portal.accounts.models import PasswordResetCode
    from portal.exports.models import Export
    from portal.exports.services import export_path

    now = utcnow()
    codes = db.session.execute(
        sa.delete(PasswordResetCode).where(PasswordResetCode.expires_at < now - KEEP_RESET_CODES),
        execution_options={"synchronize_session": False},
    ).rowcount
    old = db.session.scalars(sa.select(Export).where(Export.created_at < now - KEEP_EXPORTS)).all()
    for export in old:
        if export.storage_name:
            export_path(export).unlink(missing_ok=True)
        db.session.delete(export)
    db.session.flush()
    return {"reset_codes": codes, "exports": len(old)}


def waitlist_rerank() -> dict[str, int]:
    """A new ranking of the waiting list (asked for after changes)."""
    from portal.waitlist.services import rerank

    ranking = rerank()
    return {"generation": ranking.id, "ms": ranking.duration_ms}


def waitlist_daily_rerank() -> dict:
    """Years-waited points brought up to today, then a new ranking."""
    from portal.waitlist.services import daily_rerank

    return daily_rerank()


def waitlist_reverify_due() -> dict[str, int]:
    """Waiting households due for their yearly check are checked against department data."""
    from portal.waitlist.services import reverify_due

    return reverify_due()


def waitlist_remove_unanswered() -> dict[str, int]:
    """Suspended households that did not object in time leave the waiting list."""
    from portal.waitlist.services import remove_unanswered

    return remove_unanswered()


def tell_round_offers(round_id: int) -> dict[str, int]:
    """Tell the households a round's units were assigned to in order, and note it."""
    from portal.allocation.choosing import tell_offers

    return {"told": tell_offers(round_id)}


def expire_choosing_turns() -> dict[str, int]:
    """Households whose turn to choose a unit ran out pass it on to the next (递补)."""
    from portal.allocation.choosing import expire_turns

    return {"passed": expire_turns()}


def credit_expire_due() -> dict[str, int]:
    """Credit records whose publication and ban have passed expire; their effects end."""
    from portal.credit.services import expire_due

    return expire_due()


def reviews_open_due() -> dict[str, int]:
    """Annual reviews that are due are opened (the household told, the departments asked);
    open reviews whose departments have not all answered are asked again."""
    from portal.reviews.services import open_due

    return open_due()


def reviews_run_checks(review_id: int) -> dict:
    """One review's department checks and proposed outcome."""
    from portal.reviews.services import checks_job

    return checks_job(review_id)


def renewals_ask_due() -> dict[str, int]:
    """Tenants whose lease ends within the notice are asked whether they renew; renewals
    not answered by the lease's end lapse (an exit case opens)."""
    from portal.reviews.renewals import ask_due

    return ask_due()


def tenancy_charge_rent() -> dict[str, int]:
    """Every lease in force is charged the months it lacks, up to the current one."""
    from portal.tenancy.rent import charge_rent

    return charge_rent()


def tenancy_remind_arrears() -> dict[str, int]:
    """Households are reminded of rent overdue (once a charge); long arrears open an exit
    case and ask for a credit record."""
    from portal.tenancy.rent import remind_arrears

    return remind_arrears()


def tenancy_exits_overdue() -> dict[str, int]:
    """Exit cases past their moving period become overdue; refusals to vacate are flagged."""
    from portal.tenancy.exits import mark_overdue

    return mark_overdue()


def subsidy_mark_lapsed() -> dict[str, int]:
    """Rental subsidy awards past their validity (the review overdue) show as lapsed; the
    household is told."""
    from portal.subsidy.services import mark_lapsed

    return mark_lapsed()

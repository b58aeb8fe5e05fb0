"""Every background job, by name (the Celery task names). A new job is one line here.

Times are the city's. Daily jobs run shortly after midnight, when the day's deadlines have
passed. A monthly job would read, for example::

    Job("name", tasks.function, Schedule("month", day=1, hour=3)),

The subsidy's monthly run is not one: an officer computes and a second manager closes it.
"""

from __future__ import annotations

from portal.jobs import tasks
from portal.jobs.core import Job, Schedule


def _by_name(*jobs: Job) -> dict[str, Job]:
    return {job.name: job for job in jobs}


JOBS: dict[str, Job] = _by_name(
    # scheduled
    Job("outbox.deliver", tasks.deliver_outbox, Schedule("minute"), max_minutes=10),
    Job("applications.expire_due", tasks.expire_supplements, Schedule("day", minute=10)),
    Job("notices.close_due", tasks.close_due_notices, Schedule("day", minute=20)),
    Job("verification.resume_pending", tasks.resume_pending_checks, Schedule("hour", minute=5)),
    Job("jobs.prune", tasks.prune_job_runs, Schedule("day", hour=3, minute=30)),
    Job("housekeeping", tasks.housekeeping, Schedule("day", hour=3, minute=40)),
    Job("waitlist.reverify_due", tasks.waitlist_reverify_due, Schedule("day", hour=1)),
    Job("waitlist.remove_unanswered", tasks.waitlist_remove_unanswered, Schedule("day", hour=1)),
    Job("waitlist.daily_rerank", tasks.waitlist_daily_rerank, Schedule("day", hour=2)),
    Job("rounds.expire_turns", tasks.expire_choosing_turns, Schedule("day", minute=30)),
    Job("credit.expire_due", tasks.credit_expire_due, Schedule("day", minute=40)),
    Job("tenancy.charge_rent", tasks.tenancy_charge_rent, Schedule("day", hour=0, minute=50)),
    Job("tenancy.remind_arrears", tasks.tenancy_remind_arrears, Schedule("day", hour=1, minute=10)),
    Job("tenancy.exits_overdue", tasks.tenancy_exits_overdue, Schedule("day", hour=1, minute=20)),
    Job("reviews.open_due", tasks.reviews_open_due, Schedule("day", hour=1, minute=20)),
    Job("renewals.ask_due", tasks.renewals_ask_due, Schedule("day", hour=1, minute=30)),
    Job("subsidy.mark_lapsed", tasks.subsidy_mark_lapsed, Schedule("day", hour=1, minute=40)),
    # on demand
    Job("verification.run_checks", tasks.run_pending_checks, max_minutes=10),
    Job("exports.build", tasks.build_export),
    Job("rounds.tell_offers", tasks.tell_round_offers, max_minutes=30),
    Job("waitlist.rerank", tasks.waitlist_rerank, max_minutes=10),
    Job("reviews.run_checks", tasks.reviews_run_checks, max_minutes=10),
)

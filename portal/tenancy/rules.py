"""Tenancy rules (RULES.md "Allocation", "Annual review and exit"): the versioned
``tenancy`` rule set: rent collection, arrears, exit, annual review and renewal."""

from __future__ import annotations

DEFAULTS = {
    "rent_due_day": 10,  # rent of a month is due by this day of the month
    "deposit_months": 2,  # deposit: months of contract rent
    "reminder_days": 5,  # days after the due day before an arrears reminder
    "arrears_exit_months": 6,  # months in arrears (in total) that open an exit case
    "moving_months": 3,  # moving period at contract rent
    "overdue_factor": 1.0,  # × market rent after the moving period, first 6 months …
    "overdue_step1_months": 6,
    "overdue_step1_factor": 1.2,  # … then from 6 months overdue …
    "overdue_step2_months": 12,
    "overdue_step2_factor": 1.5,  # … and from 12 months
    "review_every_months": 12,  # annual review (年度复核)
    "review_notice_days": 30,  # the household is told this many days ahead
    "review_answer_days": 15,  # and may answer within
    "renewal_ask_months": 3,  # renewal asked this many months before the lease ends
    "renewal_answer_days": 30,
}

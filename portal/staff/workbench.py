"""The officer's workbench: every queue of work in their districts, with its deadlines.

``officer_queues(user, today)`` gives one ``Queue`` per kind of work an officer acts on:
applications awaiting their decision, documents awaited from applicants (补正), objections
(to public notices and to waiting-list suspensions), allocation rounds needing a step,
annual reviews awaiting the decision and answered renewals, exit cases, rent arrears, and
open spot checks. Each queue says how many items wait, how many are past their deadline,
the nearest deadline, the list page that shows them all, and its five most urgent items.

Every queue is read with two set-based queries (its totals, then its first items), each
scoped to the officer's districts in the query itself (SECURITY.md B1): the number of
queries does not grow with the data. Objections read two sources, so four.

Credit objections and repair requests are not here: managers decide them
(``portal/credit/views.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm import aliased

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.allocation.models import AllocationRound, EntrantStatus, RoundEntrant, RoundStatus
from portal.applications import services as applications
from portal.applications.models import (
    Application,
    SpotCheck,
    SupplementRequest,
    SupplementStatus,
)
from portal.core.calendar import add_working_days
from portal.core.clock import CITY_TZ
from portal.core.i18n import current_locale
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import officer_district_ids
from portal.extensions import db
from portal.notices import services as notices
from portal.notices.models import Notice, NoticeEntry, Objection, ObjectionStatus
from portal.reviews import services as reviews
from portal.reviews.models import LeaseRenewal, RenewalStatus, Review, ReviewStatus
from portal.tenancy import rent
from portal.tenancy.exits import BEFORE_CHECK_OUT
from portal.tenancy.exits import OPEN as OPEN_EXITS
from portal.tenancy.models import ExitCase, ExitStatus, Lease, RentCharge
from portal.waitlist import services as waitlist
from portal.waitlist.models import EntryStatus, QueueEntry

SHOWN = 5  # items shown per queue: the nearest deadlines

# the steps of a round that wait for an officer of its district
ROUND_STEPS = (RoundStatus.DRAFT, RoundStatus.APPROVED, RoundStatus.ORDERED, RoundStatus.CHOOSING)
ROUND_ACTIONS = {
    RoundStatus.DRAFT: _l("Draft: check the units and propose it for approval"),
    RoundStatus.APPROVED: _l("Approved: draw the order"),
    RoundStatus.ORDERED: _l("Order drawn: open the choosing or assign the units"),
    RoundStatus.CHOOSING: _l("Choosing: households answer at the counter or in the portal"),
}
EXIT_ACTIONS = {
    ExitStatus.MOVING: _l("Moving out"),
    ExitStatus.OVERDUE: _l("Not vacated after the moving period"),
    ExitStatus.CHECKED_OUT: _l("Checked out: settle the deposit"),
}


@dataclass(frozen=True)
class Item:
    """One piece of work: what it is, where, and by when."""

    reference: str
    label: str  # what waits, in the reader's language
    note: str | None  # a detail: the document asked for, the round's title, the amount owed
    district: str
    deadline: date | None
    overdue: bool
    endpoint: str
    args: Mapping[str, Any]

    @property
    def url(self) -> str:
        """The item's page, as a path (``/officer/applications/12``)."""
        return url_for(self.endpoint, **self.args)


@dataclass(frozen=True)
class Link:
    """A list page that shows a queue whole (filtered where the page can)."""

    title: Any  # lazy text
    endpoint: str
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return url_for(self.endpoint, **self.args)


@dataclass(frozen=True)
class Queue:
    """One kind of work: its totals, its nearest deadline and its most urgent items."""

    key: str
    title: Any  # lazy text
    hint: Any  # lazy text: what counts in the queue
    empty: Any  # lazy text: what the section says when nothing waits
    count: int
    overdue: int
    next_deadline: date | None  # the earliest deadline of the queue, passed or not
    links: tuple[Link, ...]
    items: list[Item]

    @property
    def link(self) -> Link:
        """The list page of the whole queue."""
        return self.links[0]


@dataclass(frozen=True)
class _Totals:
    count: int
    overdue: int
    next_deadline: date | None


def _totals(row) -> _Totals:
    count, overdue, nearest = row
    return _Totals(int(count or 0), int(overdue or 0), nearest)


def _late(deadline, today: date) -> sa.ColumnElement[bool]:
    return sa.and_(deadline.is_not(None), deadline < today)


def _urgent_first(deadline) -> tuple:
    """The nearest deadline first; work without a deadline after it (portable NULLS LAST)."""
    return (sa.case((deadline.is_(None), 1), else_=0), deadline)


def _tallies(deadline, late) -> sa.Select:
    """A queue's totals: how many, how many ``late``, the earliest ``deadline``. The caller
    adds the FROM and WHERE."""
    return sa.select(sa.func.count(), sa.func.count(sa.case((late, 1))), sa.func.min(deadline))


def _aggregate(inner: sa.Subquery, today: date) -> sa.Select:
    """The totals of ``inner`` (a subquery with a ``deadline`` column): count, overdue count
    and earliest deadline."""
    return _tallies(inner.c.deadline, _late(inner.c.deadline, today)).select_from(inner)


class _Builder:
    """Reads the queues of one officer on one day."""

    def __init__(self, user: User, today: date):
        self.user = user
        self.today = today
        self.district_ids = officer_district_ids(user)
        locale = current_locale()
        self.district_names = {d.id: d.name(locale) for d in user.districts}

    def item(
        self,
        *,
        reference: str | None,
        label,
        district_id: int | None,
        deadline: date | None,
        endpoint: str,
        args: Mapping[str, Any],
        note: str | None = None,
        overdue: bool | None = None,
    ) -> Item:
        late = deadline is not None and deadline < self.today
        return Item(
            reference=reference or "—",
            label=str(label),
            note=note,
            district=self.district_names.get(district_id, "—"),
            deadline=deadline,
            overdue=late if overdue is None else overdue,
            endpoint=endpoint,
            args=dict(args),
        )

    def _read(self, totals: sa.Select, rows: sa.Select) -> tuple[_Totals, Sequence[sa.Row]]:
        """A queue's totals (one row of ``_tallies``), then its ``SHOWN`` first rows (``rows``
        comes ordered, most urgent first)."""
        counted = _totals(db.session.execute(totals).one())
        return counted, db.session.execute(rows.limit(SHOWN)).all()

    def _queue(
        self,
        totals: _Totals,
        rows: Sequence[sa.Row],
        item: Callable[[sa.Row], Item],
        *,
        key: str,
        title,
        hint,
        empty,
        links: tuple[Link, ...],
    ) -> Queue:
        """The queue ``key`` from its totals and its first rows, each made an ``Item`` by
        ``item``."""
        return Queue(
            key=key,
            title=title,
            hint=hint,
            empty=empty,
            count=totals.count,
            overdue=totals.overdue,
            next_deadline=totals.next_deadline,
            links=links,
            items=[item(r) for r in rows],
        )

    # --- applications awaiting the officer's decision ----------------------------------------

    def applications(self) -> Queue:
        where = (
            applications.officer_scope(self.user),
            Application.status.in_(applications.DECIDABLE),
        )
        deadline = Application.decide_by
        totals, rows = self._read(
            _tallies(deadline, _late(deadline, self.today)).where(*where),
            sa.select(
                Application.id,
                Application.reference,
                Application.district_id,
                Application.status,
                Application.programme,
                deadline,
            )
            .where(*where)
            .order_by(*_urgent_first(deadline), Application.id),
        )

        def item(r) -> Item:
            return self.item(
                reference=r.reference,
                label=r.status.label,
                note=str(r.programme.label),
                district_id=r.district_id,
                deadline=r.decide_by,
                endpoint="officer.file",
                args={"app_id": r.id},
            )

        return self._queue(
            totals,
            rows,
            item,
            key="applications",
            title=_l("Applications awaiting your decision"),
            hint=_l(
                "Applications in review or second review: the whole review is due within 20 "
                "working days of submission."
            ),
            empty=_l("No application waits for your decision."),
            links=(Link(_l("The work queue"), "officer.queue"),),
        )

    # --- documents awaited from applicants (补正) ------------------------------------------

    def supplements(self) -> Queue:
        where = (
            applications.officer_scope(self.user),
            SupplementRequest.status == SupplementStatus.OPEN,
        )
        deadline = SupplementRequest.deadline
        totals, rows = self._read(
            _tallies(deadline, deadline < self.today)
            .select_from(SupplementRequest)
            .join(Application, Application.id == SupplementRequest.application_id)
            .where(*where),
            sa.select(
                Application.id,
                Application.reference,
                Application.district_id,
                SupplementRequest.document,
                deadline,
            )
            .select_from(SupplementRequest)
            .join(Application, Application.id == SupplementRequest.application_id)
            .where(*where)
            .order_by(deadline, SupplementRequest.id),
        )

        def item(r) -> Item:
            return self.item(
                reference=r.reference,
                label=_("Document requested"),
                note=r.document,
                district_id=r.district_id,
                deadline=r.deadline,
                endpoint="officer.file",
                args={"app_id": r.id, "_anchor": "documents-h"},
            )

        return self._queue(
            totals,
            rows,
            item,
            key="supplements",
            title=_l("Documents awaited from applicants"),
            hint=_l(
                "Documents you or a department asked for, by the day the applicant must send them."
            ),
            empty=_l("No document is awaited."),
            links=(
                Link(
                    _l("Applications waiting for a document"),
                    "officer.queue",
                    {"status": "supplement"},
                ),
            ),
        )

    # --- objections: to public notices and to waiting-list suspensions --------------------

    def _suspension_deadline(self, objected_at: datetime, days: int) -> date:
        return add_working_days(objected_at.astimezone(CITY_TZ).date(), days)

    def _late_objections_before(self, days: int) -> datetime:
        """The moment (UTC) before which an objection to a suspension is past its answer
        deadline today: the day after the last day whose deadline has passed, at midnight
        in the city. Deadlines only grow with the day objected, so one bound serves."""
        last = self.today - timedelta(days=1)
        while add_working_days(last, days) >= self.today:
            last -= timedelta(days=1)
        return datetime.combine(last + timedelta(days=1), time(), CITY_TZ).astimezone(UTC)

    def objections(self) -> Queue:
        # objections to notices: answered within the rule's working days (``respond_by``)
        where = (Objection.status == ObjectionStatus.OPEN, notices.objection_scope(self.user))
        deadline = Objection.respond_by
        to_notices, notice_rows = self._read(
            _tallies(deadline, deadline < self.today).where(*where),
            sa.select(Objection.id, NoticeEntry.reference, Notice.district_id, deadline)
            .join(NoticeEntry, NoticeEntry.id == Objection.entry_id)
            .join(Notice, Notice.id == NoticeEntry.notice_id)
            .where(*where)
            .order_by(deadline, Objection.id),
        )

        # objections to suspensions: no date is stored; the rule for answering objections
        # (RULES.md: 10 working days) counts from the day the household objected
        days = notices.notice_rules().objection_working_days
        late_before = self._late_objections_before(days)
        where_w = (
            QueueEntry.status == EntryStatus.SUSPENDED,
            QueueEntry.objection.is_not(None),
            waitlist.officer_scope(self.user),
        )
        objected, entry_rows = self._read(
            _tallies(QueueEntry.objected_at, QueueEntry.objected_at < late_before).where(*where_w),
            sa.select(
                QueueEntry.id,
                Application.reference,
                Application.district_id,
                QueueEntry.objected_at,
            )
            .join(Application, Application.id == QueueEntry.application_id)
            .where(*where_w)
            .order_by(QueueEntry.objected_at, QueueEntry.id),
        )
        first = objected.next_deadline  # the first day objected, not yet a deadline
        to_suspensions = _Totals(
            objected.count,
            objected.overdue,
            self._suspension_deadline(first, days) if first is not None else None,
        )

        items = [
            self.item(
                reference=r.reference,
                label=_("Objection to the public notice"),
                district_id=r.district_id,
                deadline=r.respond_by,
                endpoint="notices.objection",
                args={"objection_id": r.id},
            )
            for r in notice_rows
        ] + [
            self.item(
                reference=r.reference,
                label=_("Objection to a suspension from the waiting list"),
                district_id=r.district_id,
                deadline=self._suspension_deadline(r.objected_at, days),
                overdue=r.objected_at < late_before,
                endpoint="waitlist.entry",
                args={"entry_id": r.id, "_anchor": "decision-heading"},
            )
            for r in entry_rows
        ]
        items.sort(key=lambda i: (i.deadline or date.max, i.reference))
        nearest = [d for d in (to_notices.next_deadline, to_suspensions.next_deadline) if d]
        return Queue(
            key="objections",
            title=_l("Objections to answer"),
            hint=_l(
                "Objections to your public notices and to suspensions from the waiting list: "
                "each is answered within %(days)d working days.",
                days=days,
            ),
            empty=_l("No objection waits for an answer."),
            count=to_notices.count + to_suspensions.count,
            overdue=to_notices.overdue + to_suspensions.overdue,
            next_deadline=min(nearest) if nearest else None,
            links=(
                Link(_l("Objections to public notices"), "notices.objections"),
                Link(_l("Objections to suspensions"), "waitlist.objections"),
            ),
            items=items[:SHOWN],
        )

    # --- allocation rounds needing a step ----------------------------------------------------

    def rounds(self) -> Queue:
        # A choosing round waits on the households that may answer now: those holding an
        # offered unit, and the one whose turn it is (the others' time starts with their
        # turn, ``portal/allocation/choosing.py``). Its deadline is the earliest of theirs.
        entrant, turn = aliased(RoundEntrant), aliased(RoundEntrant)
        current_turn = (
            sa.select(sa.func.min(turn.position))
            .where(
                turn.round_id == entrant.round_id,
                turn.status == EntrantStatus.INVITED,
                turn.unit_id.is_(None),
            )
            .scalar_subquery()
        )
        deadline = (
            sa.select(sa.func.min(entrant.respond_by))
            .where(
                entrant.round_id == AllocationRound.id,
                entrant.status == EntrantStatus.INVITED,
                sa.or_(entrant.unit_id.is_not(None), entrant.position == current_turn),
            )
            .correlate(AllocationRound)
            .scalar_subquery()
            .label("deadline")
        )
        inner = (
            sa.select(
                AllocationRound.id,
                AllocationRound.reference,
                AllocationRound.title,
                AllocationRound.status,
                AllocationRound.district_id,
                deadline,
            )
            .where(
                AllocationRound.district_id.in_(self.district_ids),
                AllocationRound.status.in_(ROUND_STEPS),
            )
            .subquery()
        )
        totals, rows = self._read(
            _aggregate(inner, self.today),
            sa.select(inner).order_by(*_urgent_first(inner.c.deadline), inner.c.id),
        )

        def item(r) -> Item:
            return self.item(
                reference=r.reference,
                label=ROUND_ACTIONS[r.status],
                note=r.title,
                district_id=r.district_id,
                deadline=r.deadline,
                endpoint="counter.show" if r.status is RoundStatus.CHOOSING else "rounds.show",
                args={"round_id": r.id},
            )

        return self._queue(
            totals,
            rows,
            item,
            key="rounds",
            title=_l("Allocation rounds needing a step"),
            hint=_l(
                "Rounds of your districts to propose, draw or open, and rounds in choosing, "
                "by the earliest day a household must answer."
            ),
            empty=_l("No allocation round needs a step from you."),
            links=(Link(_l("Allocation rounds"), "rounds.index"),),
        )

    # --- annual reviews awaiting the decision, and answered renewals ---------------------

    def reviews(self) -> Queue:
        renewing = sa.select(LeaseRenewal.review_id).where(
            LeaseRenewal.status == RenewalStatus.REVIEWING, LeaseRenewal.review_id.is_not(None)
        )
        is_renewal = Review.id.in_(renewing)
        where = (
            reviews.officer_scope(self.user),
            sa.or_(
                Review.status == ReviewStatus.DECISION,
                sa.and_(Review.status == ReviewStatus.OPEN, is_renewal),
            ),
        )
        deadline = Review.due_on
        totals, rows = self._read(
            _tallies(deadline, deadline < self.today).where(*where),
            sa.select(
                Review.id,
                Review.reference,
                Review.kind,
                Review.status,
                Review.district_id,
                deadline,
                sa.case((is_renewal, True), else_=False).label("renewal"),
            )
            .where(*where)
            .order_by(deadline, Review.id),
        )

        def item(r) -> Item:
            return self.item(
                reference=r.reference,
                label=r.kind.label,
                note=str(
                    RenewalStatus.REVIEWING.label
                    if r.renewal and r.status is ReviewStatus.OPEN
                    else r.status.label
                ),
                district_id=r.district_id,
                deadline=r.due_on,
                endpoint="annual_reviews.review",
                args={"review_id": r.id},
            )

        return self._queue(
            totals,
            rows,
            item,
            key="reviews",
            title=_l("Annual reviews and renewals to decide"),
            hint=_l(
                "Reviews checked and awaiting your decision, and reviews of tenants who "
                "answered that they want to renew, by the day they are to be decided by."
            ),
            empty=_l("No review waits for your decision."),
            links=(
                Link(_l("Annual reviews"), "annual_reviews.index"),
                Link(_l("Lease renewals"), "annual_reviews.renewal_list"),
            ),
        )

    # --- exit cases ---------------------------------------------------------------------------

    def exits(self) -> Queue:
        # the moving deadline counts until the household has checked out; then the deposit
        # is settled, with no date set for it
        deadline = sa.case(
            (ExitCase.status.in_(BEFORE_CHECK_OUT), ExitCase.move_out_by), else_=None
        )
        late = sa.or_(ExitCase.status == ExitStatus.OVERDUE, _late(deadline, self.today))
        where = (ExitCase.district_id.in_(self.district_ids), ExitCase.status.in_(OPEN_EXITS))
        totals, rows = self._read(
            _tallies(deadline, late).where(*where),
            sa.select(
                ExitCase.id,
                ExitCase.reference,
                ExitCase.status,
                ExitCase.district_id,
                Lease.reference.label("lease"),
                deadline.label("deadline"),
                late.label("late"),
            )
            .join(Lease, Lease.id == ExitCase.lease_id)
            .where(*where)
            .order_by(*_urgent_first(deadline), ExitCase.id),
        )

        def item(r) -> Item:
            return self.item(
                reference=r.reference,
                label=EXIT_ACTIONS[r.status],
                note=_("Lease %(lease)s", lease=r.lease),
                district_id=r.district_id,
                deadline=r.deadline,
                overdue=bool(r.late),
                endpoint="tenancy.exit_case",
                args={"case_id": r.id},
            )

        return self._queue(
            totals,
            rows,
            item,
            key="exits",
            title=_l("Exit cases"),
            hint=_l(
                "Open exit cases: households moving out by their deadline, those not vacated "
                "after it, and deposits to settle after check-out."
            ),
            empty=_l("No exit case is open."),
            links=(Link(_l("Exit cases"), "tenancy.exit_cases"),),
        )

    # --- rent arrears -------------------------------------------------------------------------

    def arrears(self) -> Queue:
        # the arrears of each lease as the arrears page reads them; the deadline is the due
        # day of its oldest unpaid month
        owed = rent.arrears_subquery(self.today)
        oldest = aliased(RentCharge)
        inner = (
            sa.select(
                Lease.id,
                Lease.reference,
                Application.district_id,
                owed.c.months,
                owed.c.amount,
                oldest.due_on.label("deadline"),
            )
            .join(owed, owed.c.lease_id == Lease.id)
            .join(oldest, sa.and_(oldest.lease_id == Lease.id, oldest.month == owed.c.since))
            .join(Application, Application.id == Lease.application_id)
            .where(rent.lease_scope(self.user))
            .subquery()
        )
        totals, rows = self._read(
            _aggregate(inner, self.today),
            sa.select(inner).order_by(inner.c.deadline, inner.c.months.desc(), inner.c.id),
        )

        def item(r) -> Item:
            return self.item(
                reference=r.reference,
                label=ngettext("%(num)d month unpaid", "%(num)d months unpaid", int(r.months)),
                note=_("%(amount)s yuan", amount=rent.from_cents(r.amount)),
                district_id=r.district_id,
                deadline=r.deadline,
                endpoint="tenancy.lease",
                args={"lease_id": r.id},
            )

        return self._queue(
            totals,
            rows,
            item,
            key="arrears",
            title=_l("Rent arrears"),
            hint=_l("Leases with rent unpaid after its due day, the oldest unpaid month first."),
            empty=_l("No lease is in arrears."),
            links=(Link(_l("Rent arrears"), "tenancy.arrears"),),
        )

    # --- spot checks (承诺制 after the fact) ----------------------------------------------------

    def spot_checks(self) -> Queue:
        where = (applications.officer_scope(self.user), SpotCheck.outcome.is_(None))
        count = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SpotCheck)
            .join(Application, Application.id == SpotCheck.application_id)
            .where(*where)
        )
        rows = db.session.execute(
            sa.select(Application.id, Application.reference, Application.district_id)
            .select_from(SpotCheck)
            .join(Application, Application.id == SpotCheck.application_id)
            .where(*where)
            .order_by(SpotCheck.drawn_at, SpotCheck.id)
            .limit(SHOWN)
        ).all()

        def item(r) -> Item:
            return self.item(
                reference=r.reference,
                label=_("Spot check drawn: record its outcome"),
                district_id=r.district_id,
                deadline=None,
                endpoint="officer.file",
                args={"app_id": r.id, "_anchor": "spot-h"},
            )

        return self._queue(
            _Totals(int(count or 0), 0, None),
            rows,
            item,
            key="spot_checks",
            title=_l("Spot checks to record"),
            hint=_l("Approved applications drawn for a check of the pledge; no deadline is set."),
            empty=_l("No spot check is open."),
            links=(Link(_l("Spot checks"), "officer.spot_checks"),),
        )


def officer_queues(user: User, today: date) -> list[Queue]:
    """The officer's queues on ``today``, all within their districts (SECURITY.md B1), in
    the order work reaches them. Anyone else has no queues."""
    if user.role is not Role.OFFICER:
        return []
    b = _Builder(user, today)
    return [
        b.applications(),
        b.supplements(),
        b.objections(),
        b.rounds(),
        b.reviews(),
        b.exits(),
        b.arrears(),
        b.spot_checks(),
    ]

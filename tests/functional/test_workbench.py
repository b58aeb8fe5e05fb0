"""The officer's workbench (/staff/): every queue of the officer's districts with its counts,
overdue counts, nearest deadline and most urgent items; another district's work never shows
(SECURITY.md B1); the page in English and Chinese; a fixed number of queries however much
work there is.

``world`` builds, for each queue, work of the officer's districts (counted), work that is not
the officer's to act on (a state the queue leaves out) and the same work in another district,
made the most urgent so that a leak would show first."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, format_date

from portal.accounts.roles import Role
from portal.allocation.models import EntrantStatus, RoundEntrant, RoundStatus, RoundUnit
from portal.applications.models import (
    Application,
    SpotCheck,
    Status,
    SupplementRequest,
    SupplementStatus,
)
from portal.core.calendar import add_working_days
from portal.core.clock import CITY_TZ, today
from portal.core.i18n import current_locale
from portal.extensions import db
from portal.notices.models import Notice, NoticeEntry, NoticeStatus, Objection, ObjectionStatus
from portal.notices.services import notice_rules
from portal.reviews.models import LeaseRenewal, RenewalStatus, Review, ReviewKind, ReviewStatus
from portal.staff.workbench import officer_queues
from portal.tenancy import rent
from portal.tenancy.models import ExitCase, ExitReason, ExitStatus, Lease, RentCharge
from portal.waitlist.models import EntryStatus, QueueEntry
from tests.factories import DistrictFactory
from tests.factories.allocation import ordered_round
from tests.factories.applications import qualified_application
from tests.factories.fixtures import make_staff, page_text, sign_in_staff, staff_browser
from tests.factories.tenancy import make_lease
from tests.factories.waitlist import waiting_entry

KEYS = [
    "applications",
    "supplements",
    "objections",
    "rounds",
    "reviews",
    "exits",
    "arrears",
    "spot_checks",
]
_serial = itertools.count(1)


def days(n: int) -> date:
    return today() + timedelta(days=n)


def city_moment(day: date, at: time = time(12)) -> datetime:
    return datetime.combine(day, at, CITY_TZ).astimezone(UTC)


@dataclass
class Expected:
    count: int
    overdue: int
    next_deadline: date | None
    order: list[str]  # references of the items, most urgent first


@dataclass
class World:
    officer: object
    home: object  # the officer's first district
    second: object  # the officer's second district
    other: object  # a district the officer does not work in
    expected: dict[str, Expected] = field(default_factory=dict)
    foreign: set[str] = field(default_factory=set)  # references of the other district's work
    arrears: dict = field(default_factory=dict)  # lease reference: its arrears


# --- building blocks -----------------------------------------------------------------------


def application(district, status: Status = Status.REVIEW, decide_by: date | None = None):
    app = qualified_application(district)
    app.status = status
    app.decide_by = decide_by
    db.session.flush()
    return app


def supplement(district, officer, deadline: date, status=SupplementStatus.OPEN):
    app = application(district, Status.SUPPLEMENT, days(15))
    db.session.add(
        SupplementRequest(
            application_id=app.id,
            document="Payslips of the last six months",
            reason="Income check",
            deadline=deadline,
            status=status,
            requested_by_id=officer.id,
        )
    )
    db.session.flush()
    return app


def notice_objection(district, respond_by: date, status=ObjectionStatus.OPEN) -> str:
    app = qualified_application(district)
    publisher = make_staff(Role.OFFICER, districts=[district])
    notice = Notice(
        district_id=district.id,
        programme=app.programme,
        status=NoticeStatus.OPEN,
        starts_on=days(-5),
        ends_on=days(5),
        published_by_id=publisher.id,
    )
    db.session.add(notice)
    db.session.flush()
    entry = NoticeEntry(
        notice_id=notice.id,
        application_id=app.id,
        masked_name="王*",
        masked_id="4503**********123X",
        household_size=2,
        reference=app.reference,
    )
    db.session.add(entry)
    db.session.flush()
    db.session.add(
        Objection(
            entry_id=entry.id,
            objector_id=app.applicant_id,
            reason="The household owns a flat in another city.",
            status=status,
            respond_by=respond_by,
        )
    )
    db.session.flush()
    return app.reference


def suspended(district, objected_at: datetime | None) -> QueueEntry:
    entry = waiting_entry(district)
    entry.status = EntryStatus.SUSPENDED
    entry.object_by = days(10)
    if objected_at is not None:
        entry.objection = "Our income fell this year; the payslips show it."
        entry.objected_at = objected_at
    db.session.flush()
    return entry


def choosing_round(district, *, offered: bool, respond_by: list[date]):
    """A round in choosing whose entrants (positions 1..n) are all invited with
    ``respond_by``; ``offered``: the first holds an offered unit (assigned in order)."""
    entries = [waiting_entry(district) for _ in respond_by]
    rnd = ordered_round(district, entrants=entries, status=RoundStatus.CHOOSING)
    unit_id = db.session.scalars(
        sa.select(RoundUnit.unit_id).where(RoundUnit.round_id == rnd.id)
    ).first()
    entrants = db.session.scalars(
        sa.select(RoundEntrant)
        .where(RoundEntrant.round_id == rnd.id)
        .order_by(RoundEntrant.position)
    ).all()
    for entrant, by in zip(entrants, respond_by, strict=True):
        entrant.status = EntrantStatus.INVITED
        entrant.respond_by = by
    if offered:
        entrants[0].unit_id = unit_id
    db.session.flush()
    return rnd


def review(district, status: ReviewStatus, due_on: date, *, lease: Lease | None = None):
    app = lease.application if lease is not None else qualified_application(district)
    row = Review(
        reference=f"RW{next(_serial):08d}",
        kind=ReviewKind.RENEWAL if lease is not None else ReviewKind.ANNUAL,
        application_id=app.id,
        lease_id=lease.id if lease is not None else None,
        district_id=district.id,
        status=status,
        due_on=due_on,
        opened_on=days(-30),
        answer_by=days(-2),
    )
    db.session.add(row)
    db.session.flush()
    return row


def renewal_review(district, due_on: date) -> Review:
    """A tenant answered that they want to renew: the renewal's review, still checking."""
    lease = make_lease(district)
    row = review(district, ReviewStatus.OPEN, due_on, lease=lease)
    db.session.add(
        LeaseRenewal(
            lease_id=lease.id,
            old_ends_on=lease.ends_on,
            status=RenewalStatus.REVIEWING,
            asked_on=days(-40),
            answer_by=days(-10),
            answered_at=city_moment(days(-12)),
            review_id=row.id,
        )
    )
    db.session.flush()
    return row


def exit_case(district, status: ExitStatus, move_out_by: date) -> ExitCase:
    lease = make_lease(district)
    case = ExitCase(
        reference=f"XW{next(_serial):08d}",
        lease_id=lease.id,
        district_id=district.id,
        reason=ExitReason.VOLUNTARY,
        status=status,
        opened_on=days(-40),
        move_out_by=move_out_by,
    )
    db.session.add(case)
    db.session.flush()
    return case


def spot_check(district, outcome: str | None = None) -> Application:
    app = qualified_application(district)
    db.session.add(SpotCheck(application_id=app.id, outcome=outcome))
    db.session.flush()
    return app


def oldest_unpaid_due(lease: Lease) -> date:
    return db.session.scalar(
        sa.select(sa.func.min(RentCharge.due_on)).where(
            RentCharge.lease_id == lease.id,
            RentCharge.due_on < today(),
            RentCharge.paid < RentCharge.amount,
        )
    )


def months_ago(n: int) -> date:
    return rent.add_months(rent.month_of(today()), -n)


# --- the world -----------------------------------------------------------------------------


def build_world() -> World:
    home, second, other = DistrictFactory(), DistrictFactory(), DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[home, second])
    w = World(officer, home, second, other)
    ex = w.expected

    # applications awaiting the decision: review and second review, by decide_by
    a_late = application(home, Status.REVIEW, days(-3))
    a_second = application(home, Status.SECOND_REVIEW, days(5))
    a_soon = application(second, Status.REVIEW, days(1))
    application(home, Status.CHECKING, days(-10))  # the departments are still checking
    w.foreign.add(application(other, Status.REVIEW, days(-20)).reference)
    ex["applications"] = Expected(
        3, 1, days(-3), [a_late.reference, a_soon.reference, a_second.reference]
    )

    # documents awaited: open requests, by their deadline
    s_late = supplement(home, officer, days(-1))
    s_open = supplement(second, officer, days(4))
    supplement(home, officer, days(-5), SupplementStatus.ANSWERED)
    w.foreign.add(supplement(other, officer, days(-9)).reference)
    ex["supplements"] = Expected(2, 1, days(-1), [s_late.reference, s_open.reference])

    # objections: to notices (respond_by) and to suspensions (10 working days from the day)
    answer_days = notice_rules().objection_working_days
    o_open = notice_objection(home, days(2))
    notice_objection(home, days(-4), ObjectionStatus.UPHELD)
    w.foreign.add(notice_objection(other, days(-6)))
    w_late = suspended(home, city_moment(days(-30)))
    w_new = suspended(second, city_moment(today(), time(0, 30)))  # the previous day in UTC
    suspended(home, None)  # suspended, has not objected
    w.foreign.add(suspended(other, city_moment(days(-40))).application.reference)
    late_by = add_working_days(days(-30), answer_days)
    assert late_by < days(2)
    ex["objections"] = Expected(
        3,
        1,
        late_by,
        [w_late.application.reference, o_open, w_new.application.reference],
    )

    # rounds: drafts to propose, approved to draw, choosing by the households' deadlines
    r_draft = ordered_round(home, status=RoundStatus.DRAFT)
    # the household whose turn it is answers in two days; the next one's date does not
    # count yet (its time starts with its turn)
    r_turns = choosing_round(home, offered=False, respond_by=[days(2), days(-1)])
    r_offer = choosing_round(second, offered=True, respond_by=[days(-1)])
    ordered_round(home, status=RoundStatus.PROPOSED)  # the manager's step
    ordered_round(home, status=RoundStatus.CLOSED)
    w.foreign.add(ordered_round(other, status=RoundStatus.APPROVED).reference)
    w.foreign.add(choosing_round(other, offered=True, respond_by=[days(-7)]).reference)
    ex["rounds"] = Expected(
        3, 1, days(-1), [r_offer.reference, r_turns.reference, r_draft.reference]
    )

    # annual reviews awaiting the decision, and renewals answered (still checking)
    v_late = review(home, ReviewStatus.DECISION, days(-2))
    v_renewal = renewal_review(second, days(30))
    review(home, ReviewStatus.OPEN, days(3))  # departments still checking
    review(home, ReviewStatus.DECIDED, days(-9))
    w.foreign.add(review(other, ReviewStatus.DECISION, days(-8)).reference)
    ex["reviews"] = Expected(2, 1, days(-2), [v_late.reference, v_renewal.reference])

    # exit cases: the moving deadline until check-out; a deposit to settle has none
    x_moving = exit_case(home, ExitStatus.MOVING, days(10))
    x_overdue = exit_case(home, ExitStatus.OVERDUE, days(-5))
    x_lapsed = exit_case(second, ExitStatus.MOVING, days(-1))  # the daily job has not run
    x_settle = exit_case(home, ExitStatus.CHECKED_OUT, days(-30))
    exit_case(home, ExitStatus.CLOSED, days(-60))
    w.foreign.add(exit_case(other, ExitStatus.OVERDUE, days(-50)).reference)
    ex["exits"] = Expected(
        4,
        2,
        days(-5),
        [x_overdue.reference, x_lapsed.reference, x_moving.reference, x_settle.reference],
    )

    # arrears: leases with unpaid months, by the oldest unpaid month's due day
    old_debt = make_lease(home, starts_on=months_ago(3))
    new_debt = make_lease(second, starts_on=months_ago(1))
    far_debt = make_lease(other, starts_on=months_ago(5))
    rent.charge_rent()
    w.foreign.add(far_debt.reference)
    ex["arrears"] = Expected(
        2, 2, oldest_unpaid_due(old_debt), [old_debt.reference, new_debt.reference]
    )
    w.arrears = {lease.reference: rent.arrears_of(lease) for lease in (old_debt, new_debt)}

    # spot checks: open ones, no deadline
    sp_open = spot_check(home)
    spot_check(home, "clean")
    w.foreign.add(spot_check(other).reference)
    ex["spot_checks"] = Expected(1, 0, None, [sp_open.reference])
    return w


@pytest.fixture
def world(db) -> World:
    return build_world()


def by_key(queues) -> dict:
    return {q.key: q for q in queues}


# --- the queues ----------------------------------------------------------------------------


def test_each_queue_counts_the_officers_work_by_its_deadlines(world):
    queues = by_key(officer_queues(world.officer, today()))

    assert list(queues) == KEYS
    for key, want in world.expected.items():
        q = queues[key]
        assert (q.count, q.overdue, q.next_deadline) == (
            want.count,
            want.overdue,
            want.next_deadline,
        ), key
        assert [i.reference for i in q.items] == want.order, key
        for item in q.items:
            late = item.deadline is not None and item.deadline < today()
            assert item.overdue == late, (key, item)


def test_another_districts_work_never_shows(world):
    queues = officer_queues(world.officer, today())
    shown = {i.reference for q in queues for i in q.items}
    assert shown.isdisjoint(world.foreign)
    names = {i.district for q in queues for i in q.items}
    assert names == {world.home.name(current_locale()), world.second.name(current_locale())}
    # the other district's officer sees exactly that work
    theirs = make_staff(Role.OFFICER, districts=[world.other])
    seen = {i.reference for q in officer_queues(theirs, today()) for i in q.items}
    assert seen == world.foreign


def test_each_item_says_what_waits_and_links_to_its_page(world):
    queues = by_key(officer_queues(world.officer, today()))
    first = {k: q.items[0] for k, q in queues.items()}
    app = db.session.scalars(
        sa.select(Application).where(Application.reference == first["applications"].reference)
    ).one()
    assert first["applications"].url == f"/officer/applications/{app.id}"
    assert first["supplements"].note == "Payslips of the last six months"
    assert first["objections"].url.startswith("/staff/waitlist/entries/")
    assert first["rounds"].url.endswith("/counter")  # a round in choosing: the counter
    assert queues["rounds"].items[-1].url.startswith("/staff/rounds/")
    assert first["reviews"].url.startswith("/staff/annual-reviews/")
    assert first["exits"].url.startswith("/staff/tenancy/exits/")
    assert first["arrears"].url.startswith("/staff/tenancy/leases/")
    with force_locale("en"):
        queues = by_key(officer_queues(world.officer, today()))
    for item in queues["arrears"].items:
        owed = world.arrears[item.reference]
        unit = "month" if owed.months == 1 else "months"
        assert item.label == f"{owed.months} {unit} unpaid"
        assert item.note == f"{owed.amount} yuan"
    assert queues["supplements"].link.url == "/officer/applications?status=supplement"
    assert [link.url for link in queues["objections"].links] == [
        "/officer/objections",
        "/staff/waitlist/objections",
    ]


def test_suspension_objections_are_late_after_the_answer_period(db):
    """Each day objected in the last four weeks: late exactly when its answer day (the
    rule's working days later) is before today, also for an objection made just after
    midnight in the city (the day before in UTC)."""
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    answer_days = notice_rules().objection_working_days
    late = 0
    for back in range(28):
        day = days(-back)
        suspended(district, city_moment(day, time(0, 5) if back % 2 else time(23, 55)))
        late += add_working_days(day, answer_days) < today()
    q = by_key(officer_queues(officer, today()))["objections"]
    assert q.count == 28
    assert q.overdue == late
    assert q.next_deadline == add_working_days(days(-27), answer_days)


def test_at_most_five_items_the_nearest_deadlines_first(db):
    district = DistrictFactory()
    officer = make_staff(Role.OFFICER, districts=[district])
    apps = [application(district, Status.REVIEW, days(n)) for n in (9, -4, 3, 0, 7, -1, 12)]
    q = by_key(officer_queues(officer, today()))["applications"]
    assert (q.count, q.overdue, q.next_deadline) == (7, 2, days(-4))
    by_deadline = sorted(apps, key=lambda a: a.decide_by)
    assert [i.reference for i in q.items] == [a.reference for a in by_deadline[:5]]


def test_only_officers_have_queues(db):
    assert officer_queues(make_staff(Role.MANAGER), today()) == []
    assert officer_queues(make_staff(Role.REVIEWER), today()) == []


# --- the number of queries -----------------------------------------------------------------

QUERIES = 21  # two per queue (objections: four), the answer period, the officer's districts


def queries_of(user) -> int:
    statements: list[str] = []

    def remember(conn, cursor, statement, *args):
        statements.append(statement)

    bind = db.session.get_bind()
    db.session.expire_all()  # the officer and their districts are read afresh each time
    sa.event.listen(bind, "before_cursor_execute", remember)
    try:
        officer_queues(user, today())
    finally:
        sa.event.remove(bind, "before_cursor_execute", remember)
    return len(statements)


def test_the_number_of_queries_does_not_grow_with_the_work(world):
    first = queries_of(world.officer)
    for _ in range(3):  # more of every kind of work in the officer's districts
        application(world.home, Status.REVIEW, days(2))
        supplement(world.home, world.officer, days(3))
        notice_objection(world.second, days(4))
        suspended(world.home, city_moment(days(-2)))
        choosing_round(world.home, offered=True, respond_by=[days(1)])
        review(world.home, ReviewStatus.DECISION, days(6))
        exit_case(world.home, ExitStatus.MOVING, days(7))
        make_lease(world.second, starts_on=months_ago(2))
        spot_check(world.home)
    rent.charge_rent()

    assert queries_of(world.officer) == first == QUERIES
    grown = by_key(officer_queues(world.officer, today()))
    assert grown["applications"].count == world.expected["applications"].count + 3
    assert grown["arrears"].count == world.expected["arrears"].count + 3


# --- the page ------------------------------------------------------------------------------

SUMMARY_ROW = re.compile(
    r'<th scope="row"[^>]*><a href="#queue-(\w+)">[^<]+</a></th>\s*'
    r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>'
)


def shows(body: str, ref: str) -> bool:
    """Whether ``ref`` is on the page as a whole reference (L2026… is not GL2026…)."""
    return re.search(rf"(?<![A-Z0-9]){re.escape(ref)}(?![0-9])", body) is not None


def section(body: str, key: str) -> str:
    start = body.index(f'id="queue-{key}"')
    end = body.find('<section class="panel queue"', start + 1)
    return body[start : end if end > 0 else len(body)]


def test_the_page_shows_the_queues_and_their_most_urgent_work(app, world):
    body = page_text(staff_browser(app, world.officer).get("/staff/"))

    counts = {k: (int(c), int(o)) for k, c, o in SUMMARY_ROW.findall(body)}
    assert counts == {k: (e.count, e.overdue) for k, e in world.expected.items()}
    assert 'role="region" aria-labelledby="queues-caption"' in body
    for key, want in world.expected.items():
        part = section(body, key)
        assert re.search(r"<table[^>]*>\s*<caption", part), key
        assert '<th scope="col">' in part
        shown = re.findall(r'<th scope="row" class="nowrap"><a href="[^"]+">([^<]+)</a>', part)
        assert shown == want.order, key
    assert [ref for ref in world.foreign if shows(body, ref)] == []

    applications = section(body, "applications")
    assert "overdue by 3 days" in applications
    with force_locale("en"):
        assert format_date(days(-3), "medium") in applications
    assert "in 1 day" in applications
    assert "Second review" in applications
    assert "overdue by 1 day" in section(body, "supplements")
    assert "No deadline" in section(body, "rounds")  # the draft
    assert "Checked out: settle the deposit" in section(body, "exits")
    assert "No deadline" in section(body, "spot_checks")
    assert "/staff/waitlist/objections" in section(body, "objections")
    # the links of what an officer can do stay
    assert "/staff/tenancy/exits" in body
    assert "/staff/credit/flag" in body


def test_empty_queues_say_so(app, db):
    officer = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    body = page_text(staff_browser(app, officer).get("/staff/"))
    assert set(SUMMARY_ROW.findall(body)) == {(k, "0", "0") for k in KEYS}
    assert "No application waits for your decision." in body
    assert "No exit case is open." in body
    assert '<caption id="queue-' not in body


def test_the_page_in_chinese(app, world):
    client = app.test_client()  # no language chosen: the city's, Chinese
    sign_in_staff(client, world.officer)
    body = page_text(client.get("/staff/"))
    assert 'lang="zh-Hans"' in body
    assert "工作台" in body
    assert "已逾期" in body  # the overdue column
    counts = {k: (int(c), int(o)) for k, c, o in SUMMARY_ROW.findall(body)}
    assert counts == {k: (e.count, e.overdue) for k, e in world.expected.items()}
    with force_locale("zh_Hans_CN"):
        assert format_date(days(-3), "medium") in section(body, "applications")
        assert str(Status.SECOND_REVIEW.label) in section(body, "applications")
    assert world.home.name("zh_Hans_CN") in body
    for key, want in world.expected.items():
        assert all(shows(section(body, key), ref) for ref in want.order), key
    assert [ref for ref in world.foreign if shows(body, ref)] == []


def test_other_roles_keep_their_start_page(staff_client):
    client, _ = staff_client(Role.MANAGER, locale="en")
    body = page_text(client.get("/staff/"))
    assert 'id="queue-' not in body
    assert "/staff/credit/appeals" in body
    client, _ = staff_client(Role.REVIEWER, locale="en")
    body = page_text(client.get("/staff/"))
    assert "checks waiting for you" in body

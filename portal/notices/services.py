"""Public notice (公示) of approved applications, objections (异议) and qualification.

The way through: an officer publishes every approved application of a district and
programme (``publish_notice``); the households appear with masked names and ID numbers for
the notice period (RULES.md: 10 days); anyone signed in may object (``file_objection``); an
officer of the district answers each objection within 10 working days
(``resolve_objection``); after the end date, with no objection open, the notice is closed
and its households are qualified (``close_notice``): their qualification date is what the
waiting list orders by.

An upheld objection sends the application back to the officer's decision (``REVIEW``) and
takes it off the notice. Its entry stays where it is, with the objection that removed it,
so the notice keeps showing what was published and why a household left it. If the officer
approves the household again, the next notice of that district and programme takes the
same entry over (``notice_entries.application_id`` is unique): the entry moves to the new
notice with its resolved objections, and counts as withdrawn only on a notice during which
an objection to it was upheld. An entry whose objections are still open cannot move; the
objections are answered first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import format_date, lazy_ngettext
from sqlalchemy.orm import selectinload

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.applications.models import Application, Programme, Relationship, Status
from portal.applications.services import event, tell_applicant
from portal.core import audit
from portal.core.calendar import add_working_days
from portal.core.clock import today, utcnow
from portal.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from portal.core.i18n import in_locale_of
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import mask_id_number
from portal.core.settings import RuleVersion, current_version, defaults
from portal.extensions import db
from portal.notices.models import (
    Notice,
    NoticeEntry,
    NoticeStatus,
    Objection,
    ObjectionStatus,
)
from portal.notifications.services import notify

REASON_MIN = 10  # characters an objection's reason needs at least
REASON_MAX = 2000
RESOLUTION_MIN = 4
RESOLUTION_MAX = 2000
RECENTLY_CLOSED = 10  # closed notices listed on the public page

OUTCOME_WORDS = {
    ObjectionStatus.UPHELD: _l("upheld"),
    ObjectionStatus.DISMISSED: _l("dismissed"),
}


# --- scope -------------------------------------------------------------------------------


def _district_ids(user: User) -> list[int]:
    return [d.id for d in user.districts] if user.role is Role.OFFICER else []


def notice_scope(user: User) -> sa.ColumnElement[bool]:
    """The notices an officer works on: those of their districts (SECURITY.md B1)."""
    if user.role is not Role.OFFICER:
        return sa.false()
    return Notice.district_id.in_(_district_ids(user))


def objection_scope(user: User) -> sa.ColumnElement[bool]:
    """The objections an officer answers: those to notices of their districts."""
    if user.role is not Role.OFFICER:
        return sa.false()
    return Objection.entry_id.in_(
        sa.select(NoticeEntry.id)
        .join(Notice, Notice.id == NoticeEntry.notice_id)
        .where(Notice.district_id.in_(_district_ids(user)))
    )


def _require_district(officer: User, district_id: int) -> None:
    if officer.role is not Role.OFFICER or district_id not in _district_ids(officer):
        raise Forbidden()


# --- masking -----------------------------------------------------------------------------


def mask_name(name: str | None) -> str:
    """The surname stays, every other character becomes ``*``: 张伟 → 张*, 欧阳修 → 欧**.

    A one-character name (or none) is masked completely.
    """
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def _applicant_member(app: Application):
    return next((m for m in app.members if m.relation is Relationship.APPLICANT), app.members[0])


# --- publish -----------------------------------------------------------------------------


def _open_objections(entry_ids) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Objection)
        .where(Objection.entry_id.in_(entry_ids), Objection.status == ObjectionStatus.OPEN)
    )


def _place_on_notice(notice: Notice, app: Application) -> NoticeEntry:
    """The application's entry on ``notice``: new, or its earlier entry taken over (see the
    module's docstring)."""
    member = _applicant_member(app)
    entry = db.session.scalars(
        sa.select(NoticeEntry).where(NoticeEntry.application_id == app.id)
    ).one_or_none()
    if entry is None:
        entry = NoticeEntry(application_id=app.id)
        db.session.add(entry)
    elif _open_objections([entry.id]):
        raise Conflict(
            _l(
                "Objections to %(reference)s are still open: answer them before publishing "
                "the household again.",
                reference=app.reference,
            )
        )
    entry.notice = notice
    entry.masked_name = mask_name(member.name)
    entry.masked_id = mask_id_number(member.id_number)
    entry.household_size = len(app.members)
    entry.reference = app.reference or ""
    return entry


def publish_notice(officer: User, district: District, programme: Programme) -> Notice:
    """Publish every approved application of ``district`` and ``programme`` for public
    notice; the applications move to ``NOTICE``."""
    _require_district(officer, district.id)
    apps = db.session.scalars(
        sa.select(Application)
        .where(
            Application.district_id == district.id,
            Application.programme == programme,
            Application.status == Status.APPROVED,
        )
        .order_by(Application.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if not apps:
        raise ValidationFailed(
            _l("There is nothing to publish: no approved application waits for a notice.")
        )
    version = current_version("eligibility")
    starts_on = today()
    notice = Notice(
        district_id=district.id,
        programme=programme,
        status=NoticeStatus.OPEN,
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=int(version.values["notice_days"])),
        published_by_id=officer.id,
    )
    db.session.add(notice)
    db.session.flush()
    for app in apps:
        _place_on_notice(notice, app)
        app.status = Status.NOTICE
        event(app, "notice_published", officer, ends_on=notice.ends_on)
        audit.record("application.notice", actor=officer, obj=app, notice=notice.id)
        tell_applicant(
            app,
            "notice_published",
            {"reference": app.reference, "ends_on": notice.ends_on},
            link=f"/notices/{notice.id}",
        )
    db.session.flush()
    audit.record(
        "notice.publish",
        actor=officer,
        obj=notice,
        district=district.code,
        programme=programme.value,
        households=len(apps),
        ends_on=notice.ends_on,
        rule_version=version.id,
    )
    return notice


# --- objections --------------------------------------------------------------------------


def _lock(model, row_id: int):
    return db.session.scalars(
        sa.select(model)
        .where(model.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def accepts_objections(notice: Notice, on: date | None = None) -> bool:
    """Whether the notice is still running (open, and its end date not passed)."""
    return notice.status is NoticeStatus.OPEN and (on or today()) <= notice.ends_on


def is_own_entry(user: User, entry: NoticeEntry) -> bool:
    """Whether ``user`` is the applicant or a member of the entry's household."""
    app = entry.application
    if user.id == app.applicant_id:
        return True
    index = user.id_number_index
    return bool(index) and any(m.id_index == index for m in app.members)


def file_objection(user: User, entry: NoticeEntry, reason: str) -> Objection:
    """Object to a household on a running notice; the office answers within the
    configured working days."""
    # the notice's row lock orders objections against closing the notice
    notice = _lock(Notice, entry.notice_id)
    if not accepts_objections(notice):
        raise InvalidTransition(_l("This notice no longer takes objections."))
    app = entry.application
    if app.status is not Status.NOTICE:
        raise InvalidTransition(_l("This household is no longer in the notice."))
    if is_own_entry(user, entry):
        raise Forbidden(_l("You cannot object to your own household."))
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise ValidationFailed(
            _l(
                "Explain your objection in at least %(count)d characters: what is wrong, and "
                "how you know it.",
                count=REASON_MIN,
            ),
            field="reason",
        )
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            _l("Keep the reason under %(count)d characters.", count=REASON_MAX), field="reason"
        )
    already = db.session.scalar(
        sa.select(Objection.id).where(
            Objection.entry_id == entry.id,
            Objection.objector_id == user.id,
            Objection.status == ObjectionStatus.OPEN,
        )
    )
    if already is not None:
        raise Conflict(_l("Your objection to this household is already being looked into."))
    values = current_version("eligibility").values
    objection = Objection(
        entry_id=entry.id,
        objector_id=user.id,
        reason=reason,
        status=ObjectionStatus.OPEN,
        respond_by=add_working_days(today(), int(values["objection_working_days"])),
    )
    db.session.add(objection)
    db.session.flush()
    event(app, "objection_filed", user, public=False, objection=objection.id)
    audit.record(
        "objection.file", actor=user, obj=objection, entry=entry.id, reference=entry.reference
    )
    return objection


def _outcome_word(status: ObjectionStatus, user: User) -> str:
    """The outcome in the objector's language: the message is rendered for them."""
    return in_locale_of(user, lambda: OUTCOME_WORDS[status])


def resolve_objection(
    officer: User, objection: Objection, upheld: bool, resolution: str
) -> Objection:
    """Answer an objection. Upheld, the application goes back to the officer's decision and
    leaves the notice; dismissed, nothing changes for it. The objector is told either way."""
    entry = objection.entry
    _require_district(officer, entry.notice.district_id)
    objection = _lock(Objection, objection.id)
    if objection.status is not ObjectionStatus.OPEN:
        raise InvalidTransition(_l("This objection is already answered."))
    resolution = (resolution or "").strip()
    if len(resolution) < RESOLUTION_MIN:
        raise ValidationFailed(
            _l("Write down what was found, in words the objector understands."),
            field="resolution",
        )
    if len(resolution) > RESOLUTION_MAX:
        raise ValidationFailed(
            _l("Keep the answer under %(count)d characters.", count=RESOLUTION_MAX),
            field="resolution",
        )
    objection.status = ObjectionStatus.UPHELD if upheld else ObjectionStatus.DISMISSED
    objection.resolution = resolution
    objection.resolved_by_id = officer.id
    objection.resolved_at = utcnow()
    audit.record(
        "objection.resolve",
        actor=officer,
        obj=objection,
        outcome=objection.status.value,
        reference=entry.reference,
    )
    app = entry.application
    if upheld and app.status is Status.NOTICE:
        app.status = Status.REVIEW
        event(app, "objection_upheld", officer, resolution=resolution)
        audit.record("application.objection_upheld", actor=officer, obj=app, objection=objection.id)
    objector = objection.objector
    notify(
        objector,
        "objection_resolved",
        {
            "reference": entry.reference,
            "outcome": _outcome_word(objection.status, objector),
            "resolution": resolution,
        },
        link=f"/notices/{entry.notice_id}",
    )
    db.session.flush()
    return objection


# --- closing -----------------------------------------------------------------------------


def _open_on_notice(notice_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Objection)
        .join(NoticeEntry, NoticeEntry.id == Objection.entry_id)
        .where(NoticeEntry.notice_id == notice_id, Objection.status == ObjectionStatus.OPEN)
    )


def close_notice(officer: User | None, notice: Notice) -> list[Application]:
    """Close a notice after its end date with no objection open: every household still in
    it is qualified from now. ``officer`` None is the scheduled job. Returns the qualified
    applications."""
    if officer is not None:
        _require_district(officer, notice.district_id)
    notice = _lock(Notice, notice.id)
    if notice.status is not NoticeStatus.OPEN:
        raise InvalidTransition(_l("This notice is already closed."))
    if today() <= notice.ends_on:
        raise InvalidTransition(
            _l(
                "The notice runs until %(date)s; it can be closed after that day.",
                date=format_date(notice.ends_on),
            )
        )
    still_open = _open_on_notice(notice.id)
    if still_open:
        raise Conflict(
            lazy_ngettext(
                "%(num)d objection to this notice is still open: answer it first.",
                "%(num)d objections to this notice are still open: answer them first.",
                still_open,
            )
        )
    actor = officer or "system:scheduler"
    now = utcnow()
    qualified = []
    entries = db.session.scalars(
        sa.select(NoticeEntry)
        .where(NoticeEntry.notice_id == notice.id)
        .options(selectinload(NoticeEntry.application))
        .order_by(NoticeEntry.id)
    ).all()
    for entry in entries:
        app = entry.application
        if app.status is not Status.NOTICE:
            continue  # taken off the notice by an upheld objection, or ended meanwhile
        app.status = Status.QUALIFIED
        app.qualified_at = now
        event(app, "qualified", officer)
        audit.record("application.qualify", actor=actor, obj=app, notice=notice.id)
        tell_applicant(
            app,
            "qualified",
            {"reference": app.reference, "date": now.date()},
            link=f"/applications/{app.id}",
        )
        qualified.append(app)
    from portal.waitlist import services as waitlist

    queued = [a for a in qualified if a.programme in waitlist.QUEUED_PROGRAMMES]
    for app in queued:
        waitlist.join_queue(app, actor)
    if queued:
        waitlist.request_rerank()
    from portal.subsidy import hooks

    hooks.notice_closed(qualified, actor)
    notice.status = NoticeStatus.CLOSED
    notice.closed_at = now
    audit.record("notice.close", actor=actor, obj=notice, qualified=len(qualified))
    db.session.flush()
    return qualified


def due_notices(on: date | None = None) -> list[Notice]:
    """Open notices past their end date with no objection open: ready to be closed."""
    on = on or today()
    open_objection = (
        sa.select(Objection.id)
        .join(NoticeEntry, NoticeEntry.id == Objection.entry_id)
        .where(NoticeEntry.notice_id == Notice.id, Objection.status == ObjectionStatus.OPEN)
        .exists()
    )
    return list(
        db.session.scalars(
            sa.select(Notice)
            .where(Notice.status == NoticeStatus.OPEN, Notice.ends_on < on, ~open_objection)
            .order_by(Notice.ends_on, Notice.id)
        )
    )


# --- reading (pages and API) -------------------------------------------------------------


@dataclass(frozen=True)
class NoticeRules:
    notice_days: int
    objection_working_days: int


def notice_rules() -> NoticeRules:
    """The periods in force, as the pages explain them. Read only: a public page must not
    store the default rule version (``current_version`` does on first use)."""
    row = db.session.scalars(
        sa.select(RuleVersion)
        .where(RuleVersion.key == "eligibility", RuleVersion.effective_from <= today())
        .order_by(RuleVersion.effective_from.desc(), RuleVersion.version.desc())
        .limit(1)
    ).first()
    values = row.values if row is not None else defaults("eligibility")
    return NoticeRules(int(values["notice_days"]), int(values["objection_working_days"]))


@dataclass(frozen=True)
class NoticeSummary:
    notice: Notice
    households: int
    open_objections: int

    @property
    def due(self) -> bool:
        """Past its end date with nothing open: the officer may close it."""
        return (
            self.notice.status is NoticeStatus.OPEN
            and today() > self.notice.ends_on
            and self.open_objections == 0
        )


def _summaries(stmt: sa.Select) -> list[NoticeSummary]:
    notices = db.session.scalars(stmt.options(selectinload(Notice.district))).all()
    ids = [n.id for n in notices]
    households: dict[int, int] = {}
    objections: dict[int, int] = {}
    if ids:
        households = dict(
            db.session.execute(
                sa.select(NoticeEntry.notice_id, sa.func.count())
                .where(NoticeEntry.notice_id.in_(ids))
                .group_by(NoticeEntry.notice_id)
            ).all()
        )
        objections = dict(
            db.session.execute(
                sa.select(NoticeEntry.notice_id, sa.func.count())
                .join(Objection, Objection.entry_id == NoticeEntry.id)
                .where(NoticeEntry.notice_id.in_(ids), Objection.status == ObjectionStatus.OPEN)
                .group_by(NoticeEntry.notice_id)
            ).all()
        )
    return [NoticeSummary(n, households.get(n.id, 0), objections.get(n.id, 0)) for n in notices]


def open_notices(officer: User | None = None) -> list[NoticeSummary]:
    """Running notices, newest first; an officer's: those of their districts."""
    stmt = sa.select(Notice).where(Notice.status == NoticeStatus.OPEN)
    if officer is not None:
        stmt = stmt.where(notice_scope(officer))
    return _summaries(stmt.order_by(Notice.ends_on, Notice.id))


def recently_closed(limit: int = RECENTLY_CLOSED) -> list[NoticeSummary]:
    stmt = (
        sa.select(Notice)
        .where(Notice.status == NoticeStatus.CLOSED)
        .order_by(Notice.closed_at.desc(), Notice.id.desc())
        .limit(limit)
    )
    return _summaries(stmt)


def summary_of(notice: Notice) -> NoticeSummary:
    return _summaries(sa.select(Notice).where(Notice.id == notice.id))[0]


@dataclass(frozen=True)
class EntryRow:
    """One household of a notice as a viewer sees it."""

    entry: NoticeEntry
    withdrawn: bool  # an objection filed during this notice was upheld
    open_to_objection: bool  # the notice runs and the household is still in it
    own: bool  # the viewer's own household
    my_open_objection: Objection | None
    can_object: bool


def entry_rows(notice: Notice, viewer: User | None) -> list[EntryRow]:
    """The notice's entries (masked data only), with what ``viewer`` may do about each."""
    entries = db.session.scalars(
        sa.select(NoticeEntry)
        .where(NoticeEntry.notice_id == notice.id)
        .options(selectinload(NoticeEntry.application).selectinload(Application.members))
        .order_by(NoticeEntry.id)
    ).all()
    ids = [e.id for e in entries]
    withdrawn = set()
    mine: dict[int, Objection] = {}
    if ids:
        withdrawn = set(
            db.session.scalars(
                sa.select(Objection.entry_id).where(
                    Objection.entry_id.in_(ids),
                    Objection.status == ObjectionStatus.UPHELD,
                    Objection.created_at >= notice.published_at,
                )
            )
        )
        if viewer is not None:
            mine = {
                o.entry_id: o
                for o in db.session.scalars(
                    sa.select(Objection).where(
                        Objection.entry_id.in_(ids),
                        Objection.objector_id == viewer.id,
                        Objection.status == ObjectionStatus.OPEN,
                    )
                )
            }
    running = accepts_objections(notice)
    rows = []
    for e in entries:
        own = viewer is not None and is_own_entry(viewer, e)
        mine_open = mine.get(e.id)
        open_to = running and e.application.status is Status.NOTICE
        can = viewer is not None and open_to and not own and mine_open is None
        rows.append(EntryRow(e, e.id in withdrawn, open_to, own, mine_open, can))
    return rows


@dataclass(frozen=True)
class Waiting:
    district: District
    programme: Programme
    approved: int


def waiting_for_notice(officer: User) -> list[Waiting]:
    """For each of the officer's districts and each programme: approved applications
    waiting for a notice."""
    counts = {
        (d, p): n
        for d, p, n in db.session.execute(
            sa.select(Application.district_id, Application.programme, sa.func.count())
            .where(
                Application.status == Status.APPROVED,
                Application.district_id.in_(_district_ids(officer)),
            )
            .group_by(Application.district_id, Application.programme)
        ).all()
    }
    districts = sorted(officer.districts, key=lambda d: (d.sort_order, d.id))
    return [Waiting(d, p, counts.get((d.id, p), 0)) for d in districts for p in Programme]


def open_objections(officer: User) -> list[Objection]:
    """Open objections to notices of the officer's districts, the most urgent first."""
    return list(
        db.session.scalars(
            sa.select(Objection)
            .where(Objection.status == ObjectionStatus.OPEN, objection_scope(officer))
            .options(selectinload(Objection.entry).selectinload(NoticeEntry.notice))
            .order_by(Objection.respond_by, Objection.id)
        )
    )

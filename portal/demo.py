"""Demo data: the city of Guilin's districts and counties (seed 001's task table), one
account of every staff role and a few residents. Idempotent; passwords are random per
install and kept in ``instance/demo-accounts.json`` so they can be printed again."""

from __future__ import annotations

import json
import os
import random
import secrets
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pyotp
import sqlalchemy as sa

from portal.accounts import hashing
from portal.accounts.models import District, DistrictKind, User
from portal.accounts.roles import Role
from portal.accounts.services import id_index, resident_row
from portal.core import audit
from portal.core.clock import today, utcnow
from portal.core.errors import PortalError
from portal.core.identifiers import make_id_number
from portal.extensions import db
from portal.reviews.demo import load as load_demo_reviews
from portal.subsidy.demo import load as load_demo_subsidy
from portal.tenancy.demo import load as load_rent_demo
from portal.verification.demo_data import describe_demo_families, load_demo_registry
from portal.verification.departments import Department

# (division code, Chinese name, English name, kind), in the order of the seed's table
GUILIN = [
    ("450302", "秀峰区", "Xiufeng District", DistrictKind.DISTRICT),
    ("450303", "叠彩区", "Diecai District", DistrictKind.DISTRICT),
    ("450304", "象山区", "Xiangshan District", DistrictKind.DISTRICT),
    ("450305", "七星区", "Qixing District", DistrictKind.DISTRICT),
    ("450311", "雁山区", "Yanshan District", DistrictKind.DISTRICT),
    ("450312", "临桂区", "Lingui District", DistrictKind.DISTRICT),
    ("450300K", "经开区", "Economic and Technological Development Zone", DistrictKind.ZONE),
    ("450321", "阳朔县", "Yangshuo County", DistrictKind.COUNTY),
    ("450323", "灵川县", "Lingchuan County", DistrictKind.COUNTY),
    ("450326", "永福县", "Yongfu County", DistrictKind.COUNTY),
    ("450324", "全州县", "Quanzhou County", DistrictKind.COUNTY),
    ("450325", "兴安县", "Xing'an County", DistrictKind.COUNTY),
    ("450381", "荔浦市", "Lipu City", DistrictKind.COUNTY),
    ("450330", "平乐县", "Pingle County", DistrictKind.COUNTY),
    ("450332", "恭城瑶族自治县", "Gongcheng Yao Autonomous County", DistrictKind.COUNTY),
    ("450327", "灌阳县", "Guanyang County", DistrictKind.COUNTY),
    ("450328", "龙胜各族自治县", "Longsheng Multi-ethnic Autonomous County", DistrictKind.COUNTY),
    ("450329", "资源县", "Ziyuan County", DistrictKind.COUNTY),
]

# username, role, name, districts, department
STAFF = [
    ("demo.admin", Role.ADMIN, "赵明", [], None),
    ("demo.security", Role.SECURITY, "钱芳", [], None),
    ("demo.auditor", Role.AUDITOR, "孙丽", [], None),
    ("demo.manager", Role.MANAGER, "李强", [], None),
    ("demo.manager2", Role.MANAGER, "何燕", [], None),  # four eyes: confirms what 李强 flags
    ("demo.officer", Role.OFFICER, "周静", ["450302", "450303", "450304", "450305"], None),
    ("demo.officer2", Role.OFFICER, "吴刚", ["450311", "450312", "450321", "450323"], None),
    *[
        (f"demo.{d.value.replace('_', '-')}", Role.REVIEWER, name, [], d)
        for d, name in zip(
            Department,
            ["郑伟", "王敏", "冯军", "陈洁", "褚磊", "卫红", "蒋涛", "沈燕"],
            strict=True,
        )
    ],
]

# name, region, birth date, sequence, mobile
RESIDENTS = [
    ("张伟", "450302", date(1986, 3, 14), 123, "13807730001"),
    ("李娜", "450303", date(1992, 7, 2), 244, "13807730002"),
    ("王芳", "450305", date(1958, 11, 20), 66, "13807730003"),
    ("刘洋", "450312", date(1999, 1, 9), 315, "13807730004"),
    ("陈静", "450321", date(1975, 5, 28), 482, "13807730005"),
]


def _credentials(instance_path: str) -> dict:
    path = Path(instance_path) / "demo-accounts.json"
    if path.exists():
        creds = json.loads(path.read_text())
        missing = [u[0] for u in STAFF if u[0] not in creds["totp"]]
        if missing:  # an account added to the demo since this install
            creds["totp"].update({name: pyotp.random_base32() for name in missing})
            path.write_text(json.dumps(creds))
        return creds
    creds = {"password": _password(), "totp": {u[0]: pyotp.random_base32() for u in STAFF}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return creds


def _password() -> str:
    words = ["Lijiang", "Osmanthus", "Elephant", "Trunk", "Reed", "Flute", "Karst", "Bamboo"]
    return "-".join(secrets.choice(words) for _ in range(3)) + f"-{secrets.randbelow(90) + 10}"


def load_demo(instance_path: str) -> list[str]:
    """Create what is missing and return lines describing the demo accounts."""
    creds = _credentials(instance_path)
    existing = set(db.session.scalars(sa.select(District.code)))
    for order, (code, zh, en, kind) in enumerate(GUILIN):
        if code not in existing:
            db.session.add(District(code=code, name_zh=zh, name_en=en, kind=kind, sort_order=order))
    db.session.flush()
    districts = {d.code: d for d in db.session.scalars(sa.select(District))}
    pw_hash = hashing.hash_password(creds["password"])
    taken = set(db.session.scalars(sa.select(User.username).where(User.username.is_not(None))))
    created = 0
    for username, role, name, codes, dept in STAFF:
        if username in taken:
            continue
        db.session.add(
            User(
                role=role,
                username=username,
                real_name=name,
                districts=[districts[c] for c in codes],
                department=dept,
                password_hash=pw_hash,
                totp_secret=creds["totp"][username],
                totp_confirmed_at=utcnow(),
                is_demo=True,
            )
        )
        created += 1
    for name, region, birth, seq, mobile in RESIDENTS:
        idn = make_id_number(region, birth, seq)
        if db.session.scalar(sa.select(User.id).where(User.id_number_index == id_index(idn))):
            continue
        db.session.add(resident_row(name, idn, mobile, pw_hash, is_demo=True))
        created += 1
    db.session.flush()
    load_demo_registry()
    from portal.housing.demo import load_demo_housing

    load_demo_housing()
    with _not_texted():
        queued = load_demo_queue(pw_hash)
        load_demo_credit()
        load_demo_subsidy_households(pw_hash)
        load_demo_tenancies()
        load_rent_demo(_staff("demo.officer"), _staff("demo.manager"))
        load_demo_subsidy(_staff("demo.officer"), [_staff("demo.manager"), _staff("demo.manager2")])
        load_demo_reviews(_staff("demo.officer"))
    from portal.public.demo import load_demo_offices
    from portal.reports.demo import load_demo_targets

    load_demo_offices()
    load_demo_targets(_staff("demo.manager"))
    if created or queued:
        audit.record("demo.load", actor="cli", accounts=created, queued=queued)
    return describe(creds)


@contextmanager
def _not_texted():
    """The invented households keep the messages the services send them in the portal, but
    nothing made in the block is e-mailed or texted."""
    from portal.notifications.models import OutboxItem

    before = db.session.scalar(sa.select(sa.func.max(OutboxItem.id))) or 0
    yield
    db.session.execute(sa.delete(OutboxItem).where(OutboxItem.id > before))


def load_demo_credit() -> int:
    """A few credit records for the public list and the managers' pages: confirmed ones of
    invented households whose applications were not approved, one of an organisation, and
    one flagged and waiting for the second manager. Does nothing once records exist."""
    from portal.applications.models import Application, Status
    from portal.core.identifiers import make_credit_code
    from portal.credit import services as credit
    from portal.credit.models import CreditRecord, SubjectKind

    if db.session.scalar(sa.select(sa.func.count()).select_from(CreditRecord)):
        return 0
    flagger, confirmer = _staff("demo.manager"), _staff("demo.manager2")
    not_approved = db.session.scalars(
        sa.select(Application)
        .where(Application.status == Status.REVIEW)
        .order_by(Application.id)
        .limit(3)
    ).all()
    cases = [
        ("V-FALSE-PLEDGE", "申请时隐瞒名下商品住房一套，经不动产登记核查属实。"),
        ("V-BREACH", "拒不配合入户核查，经两次书面通知仍未配合。"),
        ("V-LATE-REPORT", "家庭收入变化超过30日未申报。"),
    ]
    made = 0
    for app, (code, facts) in zip(not_approved, cases, strict=False):
        member = app.members[0]
        record = credit.flag_violation(
            flagger,
            subject_kind=SubjectKind.PERSON,
            id_number=member.id_number,
            name=member.name,
            code=code,
            facts=facts,
            occurred_on=today() - timedelta(days=40),
            application=app,
        )
        if made < 2:  # the third waits for the second manager
            credit.confirm(record, confirmer, "demo")
        made += 1
    company = credit.flag_violation(
        flagger,
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=make_credit_code("91450300MA5KDEM11"),
        name="桂林市某房屋中介服务有限公司",
        code="V-SUBLET",
        facts="组织承租人将公租房转租牟利，涉及房源3套。",
        occurred_on=today() - timedelta(days=60),
    )
    credit.confirm(company, confirmer, "demo")
    return made + 1


def _waiting_examples(limit: int = 3) -> list[str]:
    """The first invented households of the waiting list, to sign in as."""
    from portal.applications.models import Application
    from portal.waitlist.models import QueueEntry, QueueRank
    from portal.waitlist.services import current_generation

    generation = current_generation()
    if generation is None:
        return []
    rows = db.session.execute(
        sa.select(User, QueueRank.rank)
        .join(Application, Application.applicant_id == User.id)
        .join(QueueEntry, QueueEntry.application_id == Application.id)
        .join(QueueRank, QueueRank.entry_id == QueueEntry.id)
        .where(QueueRank.generation == generation, QueueEntry.programme == "public_rental")
        .order_by(QueueRank.rank)
        .limit(limit)
    ).all()
    lines = [f"  {DEMO_APPLICANTS} invented households applied; the first on the waiting list:"]
    for user, rank in rows:
        lines.append(f"    No. {rank}  {user.real_name}  mobile {user.mobile}")
    return lines


# The invented households that apply in the demo (through the real services: department
# checks, review, public notice, qualification); their applicants sign in with the demo
# password and the mobile number 1390773NNNN, NNNN their place among the invented households.
DEMO_APPLICANTS = 90
QUEUE_DISTRICTS = ["450302", "450303", "450304", "450305", "450311", "450312", "450321", "450323"]


def _staff(username: str) -> User:
    return db.session.scalars(sa.select(User).where(User.username == username)).one()


def _apply(user: User, household, district: str, officer: User, programme=None) -> None:
    """Apply with ``household`` through the services and settle every department check."""
    from portal.applications import services as applications
    from portal.applications.models import Programme
    from portal.applications.texts import texts_hash
    from portal.jobs.tasks import run_pending_checks
    from portal.verification import services as verification

    app = applications.start_application(user, programme or Programme.PUBLIC_RENTAL)
    for person in household.members[1:]:
        applications.add_member(
            app,
            user,
            name=person.name,
            id_number=person.id_number,
            relationship=person.relationship,
        )
    applications.update_details(
        app,
        user,
        contact_phone=user.mobile,
        email=None,
        current_address="桂林市" + district,
        district_code=district,
        preferred_codes=[district],
    )
    applications.submit(
        app,
        user,
        accept_pledge=True,
        accept_authorization=True,
        accept_privacy=True,
        locale="zh_Hans_CN",
        shown_hash=texts_hash("zh_Hans_CN"),
    )
    # with Celery the departments are asked by a worker; the demo asks them now
    run_pending_checks(app.id)
    for check in verification.checks_of(app):
        reviewer = _staff(f"demo.{check.department.value.replace('_', '-')}")
        verification.confirm(check, reviewer, "demo")
    if (app.evaluation or {}).get("eligible") is True:
        applications.approve(app, officer)


def _demo_resident(person, n: int, pw_hash: str) -> User | None:
    """The demo account of the ``n``-th invented household's applicant (mobile
    1390773nnnn); None when the person has an account already."""
    if db.session.scalar(
        sa.select(User.id).where(User.id_number_index == id_index(person.id_number))
    ):
        return None
    user = resident_row(person.name, person.id_number, f"1390773{n:04d}", pw_hash, is_demo=True)
    db.session.add(user)
    db.session.flush()
    return user


def load_demo_queue(pw_hash: str) -> int:
    """A waiting list to look at: the eligible invented households, qualified over the past
    five years. Does nothing once the list has households."""
    from portal.applications.models import Application, Programme, Status
    from portal.notices import services as notices
    from portal.verification.demo_data import synthetic_households
    from portal.waitlist import services as waitlist
    from portal.waitlist.models import QueueEntry, Sector

    if db.session.scalar(sa.select(sa.func.count()).select_from(QueueEntry)):
        return 0
    rng = random.Random(4)  # noqa: S311 - reproducible demo data, not a secret
    districts = {d.code: d for d in db.session.scalars(sa.select(District))}
    officers = {code: _staff("demo.officer") for code in QUEUE_DISTRICTS[:4]}
    officers.update({code: _staff("demo.officer2") for code in QUEUE_DISTRICTS[4:]})
    for n, household in enumerate(synthetic_households()[:DEMO_APPLICANTS]):
        user = _demo_resident(household.applicant, n, pw_hash)
        if user is None:
            continue
        district = rng.choice(QUEUE_DISTRICTS)
        _apply(user, household, district, officers[district])
    qualified: list[Application] = []
    for code in QUEUE_DISTRICTS:
        try:
            notice = notices.publish_notice(
                officers[code], districts[code], Programme.PUBLIC_RENTAL
            )
        except PortalError:
            continue  # nobody approved in this district
        # the demo's notices ran their ten days in the past
        notice.starts_on = today() - timedelta(days=12)
        notice.ends_on = today() - timedelta(days=2)
        qualified.extend(notices.close_notice(officers[code], notice))
    for app in qualified:
        if app.status is not Status.QUALIFIED:
            continue
        entry = waitlist.join_queue(app, "cli")
        waited = timedelta(days=rng.randint(20, 5 * 365))
        app.qualified_at = app.qualified_at - waited
        entry.qualified_on = entry.qualified_on - waited
    db.session.flush()
    general = [a for a in qualified if waitlist.join_queue(a).group.value == "g"]
    for app, sector in zip(general[:3], Sector, strict=False):  # employers' letters seen
        district = next(c for c, d in districts.items() if d.id == app.district_id)
        waitlist.assign_sector(waitlist.join_queue(app), officers[district], sector, "demo")
    waitlist.refresh_waited_points(since=today() - timedelta(days=366))
    waitlist.rerank()
    return len(qualified)


DEMO_SUBSIDY_APPLICANTS = 24  # the next invented households apply for a rental subsidy
# how long ago the demo's leases began (months): one ends within three months (renewal
# asked), some are at their annual review, one is new
DEMO_LEASE_AGES = (34, 33, 13, 12, 12, 11, 8, 5, 3, 1)


def load_demo_subsidy_households(pw_hash: str) -> int:
    """Households paid a rental subsidy instead of a unit: the next invented households apply
    for ``rental_subsidy`` through the services and pass their public notice. Does nothing
    once such an application exists."""
    from portal.applications.models import Application, Programme
    from portal.notices import services as notices
    from portal.verification.demo_data import synthetic_households

    if db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Application)
        .where(Application.programme == Programme.RENTAL_SUBSIDY)
    ):
        return 0
    rng = random.Random(5)  # noqa: S311 - reproducible demo data, not a secret
    districts = {d.code: d for d in db.session.scalars(sa.select(District))}
    officer = _staff("demo.officer")
    codes = QUEUE_DISTRICTS[:4]  # demo.officer's districts
    households = synthetic_households()[DEMO_APPLICANTS : DEMO_APPLICANTS + DEMO_SUBSIDY_APPLICANTS]
    for n, household in enumerate(households, start=DEMO_APPLICANTS):
        user = _demo_resident(household.applicant, n, pw_hash)
        if user is None:
            continue
        _apply(user, household, rng.choice(codes), officer, Programme.RENTAL_SUBSIDY)
    qualified = 0
    for code in codes:
        try:
            notice = notices.publish_notice(officer, districts[code], Programme.RENTAL_SUBSIDY)
        except PortalError:
            continue
        notice.starts_on = today() - timedelta(days=40)
        notice.ends_on = today() - timedelta(days=30)
        qualified += len(notices.close_notice(officer, notice))
    return qualified


def _next_anniversary(start: date, on_or_after: date) -> date:
    from portal.tenancy.services import add_years

    years = 1
    while add_years(start, years) < on_or_after:
        years += 1
    return add_years(start, years)


def load_demo_tenancies() -> int:
    """Households housed in the past, so that there is rent, annual reviews, renewals and
    exits to look at: the first waiting households of demo.officer's districts take a vacant
    unit that suits them, on leases that began ``DEMO_LEASE_AGES`` months ago. Does nothing
    once a lease exists."""
    from portal.applications.models import Application, Programme
    from portal.housing.models import Estate, Unit, UnitStatus
    from portal.tenancy.models import Lease
    from portal.tenancy.services import create_lease
    from portal.waitlist import rules as queue_rules
    from portal.waitlist import services as waitlist
    from portal.waitlist.models import EntryStatus, QueueEntry

    if db.session.scalar(sa.select(sa.func.count()).select_from(Lease)):
        return 0
    officer = _staff("demo.officer")
    district_ids = [d.id for d in officer.districts]
    values = waitlist.rule_values()
    entries = db.session.scalars(
        sa.select(QueueEntry)
        .join(QueueEntry.application)
        .where(
            QueueEntry.status == EntryStatus.WAITING,
            QueueEntry.programme == Programme.PUBLIC_RENTAL,
            Application.district_id.in_(district_ids),
        )
        .order_by(QueueEntry.qualified_on, QueueEntry.id)
        .limit(len(DEMO_LEASE_AGES))
    ).all()
    housed = 0
    first_of_month = today().replace(day=1)
    for entry, age in zip(entries, DEMO_LEASE_AGES, strict=False):
        app = entry.application
        unit = next(
            (
                u
                for u in db.session.scalars(
                    sa.select(Unit)
                    .join(Estate, Unit.estate_id == Estate.id)
                    .where(
                        Estate.district_id == app.district_id,
                        Estate.programme == Programme.PUBLIC_RENTAL,
                        Unit.status == UnitStatus.VACANT,
                    )
                    .order_by(Unit.area.desc(), Unit.id)
                )
                if queue_rules.unit_fits(u.area, entry.household_size, values)
            ),
            None,
        )
        if unit is None:
            continue
        lease = create_lease(
            unit=unit,
            application=app,
            tenant=app.applicant,
            actor=officer,
            starts_on=waitlist.add_months(first_of_month, -age),
            years=int(values["lease_years"]),
        )
        # a lease is reviewed on its anniversaries: the demo's next one is due soon or,
        # for one household, a few weeks overdue
        lease.next_review_on = _next_anniversary(lease.starts_on, today() - timedelta(days=60))
        waitlist.mark_housed(entry, officer, lease)
        housed += 1
    if housed:
        waitlist.rerank()
    return housed


def describe(creds: dict) -> list[str]:
    lines = [
        f"Demo accounts (password for all: {creds['password']})",
        "  Residents sign in with their mobile number or ID number:",
    ]
    for name, region, birth, seq, mobile in RESIDENTS:
        lines.append(f"    {name}  mobile {mobile}  ID {make_id_number(region, birth, seq)}")
    lines.extend(_waiting_examples())
    lines.append("  Staff sign in with their name, then a code from an authenticator app")
    lines.append("  (secret below), or from `flask portal demo-code USERNAME`:")
    for username, role, _name, _codes, _dept in STAFF:
        lines.append(f"    {username:<26} {role.value:<9} TOTP secret {creds['totp'][username]}")
    lines.extend(describe_demo_families())
    return lines

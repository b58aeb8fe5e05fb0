"""Demo data: this year's task table and deadlines from the seeds, and invented projects
with their monthly progress.

Targets (seed 001, 2020年桂林市保障性安居工程年度工作任务目标分解表), loaded as the current
year's. The seed's columns map to ``TargetKind``: 2019年自治区新增任务 →
RENOVATION_STARTS_CARRIED, 新编入2020年国家任务 → RENOVATION_STARTS_NEW, 城市棚户区改造 基本建成
→ RENOVATION_COMPLETIONS, 住房租赁补贴 → SUBSIDY_HOUSEHOLDS, 公租房 2020年新开工 →
PUBLIC_RENTAL_STARTS, 公租房 基本建成 → PUBLIC_RENTAL_COMPLETIONS, 2020年新增分配入住 →
NEW_ALLOCATIONS; the column 开工任务小计 is the portal's computed subtotal. Rows:

- 下达任务, 任务分解, 市区合计, 各县合计: totals and subtotals, computed, not loaded;
- 市本级 (801 new allocations) and 国资委 (516 renovation completions): the city's own
  share (``district_id`` None);
- 经开区, the six urban districts and the eleven counties: the demo district of the same
  Chinese name (恭城县 → 恭城瑶族自治县, 龙胜县 → 龙胜各族自治县).

The seed's text lost some blank cells in the district lines, so their figures sit one column
off; each figure below was put in the column whose subtotal and total it makes up:
叠彩区 390 + 1488 starts and 200 subsidy households, 象山区 131 starts and 200 households,
七星区 2183 + 320 starts, 1054 completions and 100 households, 雁山区 339 completions,
秀峰区 36 households, 临桂区 5 households, 经开区 3108 public rental starts and 300 new
allocations (the sums give the seed's 市区合计 4512 = 2704 + 1808, 541 households and 1101
allocations, and with the counties its 下达任务: 7298 = 5290 + 2008 starts, 4000
completions, 2000 households, 3108 public rental starts, 1355 allocations; 兴安县's 60 public
rental completions are the 60 of the plan's text). A "0" in the seed is a target of 0.
No affordable rental target is loaded: the seeds give none for the city.

Deadlines: seed 001 (renovation: 80% of the starts by the end of June and all by the end of
September, 80% of the completions by the end of September; the starts' two kinds each) and
seed 000 (affordable rental starts: 70% by June, 90% by September, all by October).

Projects: sixteen invented renovation, public rental and affordable rental projects in
several districts (names of places, responsible units and persons made up), each with a
record for every month from January to last month, built through the services: most start
on time, a few are late to start (one never reported), some are basically completed.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.core.clock import today
from portal.extensions import db
from portal.reports import projects, targets
from portal.reports.models import Project, ProjectKind, ProjectStage, Target, TargetKind
from portal.reports.models import TargetMilestone as Milestone

K = TargetKind
CITY = None

# seed 001, row by row: (implementing unit, {kind: units}); CITY: the city's own share
SEED_TARGETS: tuple[tuple[str | None, str, dict[TargetKind, int]], ...] = (
    (CITY, "市本级", {K.NEW_ALLOCATIONS: 801}),
    (CITY, "国资委", {K.RENOVATION_COMPLETIONS: 516}),
    ("经开区", "经开区", {K.PUBLIC_RENTAL_STARTS: 3108, K.NEW_ALLOCATIONS: 300}),
    ("秀峰区", "秀峰区", {K.SUBSIDY_HOUSEHOLDS: 36}),
    (
        "叠彩区",
        "叠彩区",
        {
            K.RENOVATION_STARTS_CARRIED: 390,
            K.RENOVATION_STARTS_NEW: 1488,
            K.SUBSIDY_HOUSEHOLDS: 200,
        },
    ),
    ("雁山区", "雁山区", {K.RENOVATION_COMPLETIONS: 339}),
    ("象山区", "象山区", {K.RENOVATION_STARTS_CARRIED: 131, K.SUBSIDY_HOUSEHOLDS: 200}),
    (
        "七星区",
        "七星区",
        {
            K.RENOVATION_STARTS_CARRIED: 2183,
            K.RENOVATION_STARTS_NEW: 320,
            K.RENOVATION_COMPLETIONS: 1054,
            K.SUBSIDY_HOUSEHOLDS: 100,
        },
    ),
    ("临桂区", "临桂区", {K.SUBSIDY_HOUSEHOLDS: 5}),
    ("阳朔县", "阳朔县", {K.SUBSIDY_HOUSEHOLDS: 0, K.NEW_ALLOCATIONS: 5}),
    ("灵川县", "灵川县", {K.SUBSIDY_HOUSEHOLDS: 20, K.NEW_ALLOCATIONS: 10}),
    (
        "永福县",
        "永福县",
        {
            K.RENOVATION_STARTS_CARRIED: 1804,
            K.RENOVATION_COMPLETIONS: 1261,
            K.SUBSIDY_HOUSEHOLDS: 0,
            K.NEW_ALLOCATIONS: 30,
        },
    ),
    ("全州县", "全州县", {K.SUBSIDY_HOUSEHOLDS: 1029, K.NEW_ALLOCATIONS: 37}),
    (
        "兴安县",
        "兴安县",
        {K.SUBSIDY_HOUSEHOLDS: 220, K.PUBLIC_RENTAL_COMPLETIONS: 60, K.NEW_ALLOCATIONS: 50},
    ),
    (
        "荔浦市",
        "荔浦市",
        {
            K.RENOVATION_STARTS_NEW: 200,
            K.RENOVATION_COMPLETIONS: 630,
            K.SUBSIDY_HOUSEHOLDS: 0,
            K.NEW_ALLOCATIONS: 68,
        },
    ),
    (
        "平乐县",
        "平乐县",
        {
            K.RENOVATION_STARTS_CARRIED: 285,
            K.RENOVATION_COMPLETIONS: 200,
            K.SUBSIDY_HOUSEHOLDS: 150,
            K.NEW_ALLOCATIONS: 14,
        },
    ),
    ("恭城瑶族自治县", "恭城县", {K.SUBSIDY_HOUSEHOLDS: 30, K.NEW_ALLOCATIONS: 10}),
    ("灌阳县", "灌阳县", {K.SUBSIDY_HOUSEHOLDS: 0, K.NEW_ALLOCATIONS: 10}),
    ("龙胜各族自治县", "龙胜县", {K.SUBSIDY_HOUSEHOLDS: 10, K.NEW_ALLOCATIONS: 20}),
    ("资源县", "资源县", {K.RENOVATION_STARTS_CARRIED: 497, K.SUBSIDY_HOUSEHOLDS: 0}),
)

# (kind, month, share per cent): seed 001 for renovation, seed 000 for affordable rental
SEED_MILESTONES = (
    (K.RENOVATION_STARTS_CARRIED, 6, 80),
    (K.RENOVATION_STARTS_CARRIED, 9, 100),
    (K.RENOVATION_STARTS_NEW, 6, 80),
    (K.RENOVATION_STARTS_NEW, 9, 100),
    (K.RENOVATION_COMPLETIONS, 9, 80),
    (K.AFFORDABLE_RENTAL_STARTS, 6, 70),
    (K.AFFORDABLE_RENTAL_STARTS, 9, 90),
    (K.AFFORDABLE_RENTAL_STARTS, 10, 100),
)

R, P, A = ProjectKind.RENOVATION, ProjectKind.PUBLIC_RENTAL, ProjectKind.AFFORDABLE_RENTAL
CITY_INVEST = "桂林市城市建设投资集团有限公司"

# district, kind, name, address, units, m² a unit, 万元 a m², start deadline (month, day),
# responsible unit, person, implementer, certificate, month started (None: not yet; "-":
# never reported), month basically completed, the problem reported while not started
PROJECTS = (
    ("七星区", R, "七星区东江片区棚户区改造项目", "桂林市七星区东江路一带", 1200, 85, "0.35",
     (6, 30), "七星区人民政府", "王建华", CITY_INVEST, None, 2, None, None),
    ("七星区", R, "七星区朝阳片区棚户区改造项目", "桂林市七星区朝阳路与穿山路之间", 983, 82, "0.34",
     (6, 30), "七星区人民政府", "李国强", "七星区城市建设投资有限公司", None, 5, None, None),
    ("叠彩区", R, "叠彩区北门片区棚户区改造项目", "桂林市叠彩区北极路北段", 1000, 80, "0.36",
     (6, 30), "叠彩区人民政府", "张伟", CITY_INVEST, None, 4, None, None),
    ("叠彩区", R, "叠彩区大河片区棚户区改造项目（货币化安置）", "桂林市叠彩区大河乡", 878, 78,
     "0.30", (6, 30), "叠彩区住房和城乡建设局", "刘洋", "叠彩区城市建设投资有限公司", None, 3, 9,
     None),
    ("象山区", R, "象山区平山片区棚户区改造项目", "桂林市象山区平山路一带", 131, 75, "0.33",
     (6, 30), "象山区人民政府", "陈军", "象山区城市建设投资有限公司", None, 2, 8, None),
    ("永福县", R, "永福县永福镇城北片区棚户区改造项目", "永福县永福镇城北路", 900, 88, "0.28",
     (9, 30), "永福县人民政府", "杨帆", "永福县城市建设投资有限公司", None, 6, None, None),
    ("平乐县", R, "平乐县平乐镇沿河片区棚户区改造项目", "平乐县平乐镇沿河路", 285, 86, "0.27",
     (9, 30), "平乐县人民政府", "黄海", "平乐县城乡建设投资有限公司", None, 7, None, None),
    ("资源县", R, "资源县资源镇老城片区棚户区改造项目", "资源县资源镇老城区", 497, 84, "0.27",
     (6, 30), "资源县人民政府", "赵磊", "资源县城市建设投资有限公司", None, None, None,
     "征收补偿方案尚未通过，未能开工"),
    ("荔浦市", R, "荔浦市荔城镇东门片区棚户区改造项目", "荔浦市荔城镇东门街", 200, 86, "0.29",
     (9, 30), "荔浦市人民政府", "周涛", "荔浦市城市建设投资有限公司", None, 9, None, None),
    ("经开区", P, "桂林经开区苏桥园区公共租赁住房项目", "桂林经开区苏桥园区", 1500, 50, "0.30",
     (9, 30), "桂林经济技术开发区管理委员会", "吴斌", "桂林经开区投资控股有限责任公司", None, 8,
     None, None),
    ("经开区", P, "桂林经开区秧塘园区公共租赁住房项目", "桂林经开区秧塘园区", 1608, 50, "0.30",
     (9, 30), "桂林经济技术开发区管理委员会", "徐明", "桂林经开区投资控股有限责任公司", None, None,
     None, "用地报批手续尚未完成"),
    ("兴安县", P, "兴安县桂善街公共租赁住房小区项目", "兴安县兴安镇桂善街", 60, 50, "0.26",
     None, "兴安县住房和城乡建设局", "孙杰", "兴安县城市建设投资有限公司", None, 1, 10, None),
    ("临桂区", A, "临桂区新城保障性租赁住房项目", "桂林市临桂区新城西二环路", 600, 45, "0.32",
     (3, 31), "临桂区住房和城乡建设局", "马超", CITY_INVEST, "桂保租认〔{year}〕1号", 3, None,
     None),
    ("七星区", A, "七星区高新区人才公寓保障性租赁住房项目", "桂林市七星区高新区毅峰路", 420, 42,
     "0.33", (6, 30), "七星区住房和城乡建设局", "朱丽", "七星区城市建设投资有限公司",
     "桂保租认〔{year}〕2号", 5, None, None),
    ("雁山区", A, "雁山区大学城保障性租赁住房项目", "桂林市雁山区雁山街", 350, 40, "0.31",
     (6, 30), "雁山区住房和城乡建设局", "胡平", "雁山区城市建设投资有限公司", None, "-", None,
     None),
    ("秀峰区", A, "秀峰区甲山保障性租赁住房项目（非居住存量房改建）", "桂林市秀峰区甲山路", 180, 38,
     "0.18", (6, 30), "秀峰区住房和城乡建设局", "郭亮", "秀峰区城市建设投资有限公司",
     "桂保租认〔{year}〕3号", 6, 10, None),
)  # fmt: skip


def _manager(manager: User | None) -> User | None:
    if manager is not None:
        return manager
    found = db.session.scalar(sa.select(User).where(User.username == "demo.manager"))
    if found is not None:
        return found
    return db.session.scalars(
        sa.select(User).where(User.role == Role.MANAGER).order_by(User.id).limit(1)
    ).first()


def _districts() -> dict[str, District]:
    return {d.name_zh: d for d in db.session.scalars(sa.select(District))}


def _stage(m: int, started: int | None, done: int | None) -> ProjectStage:
    if started is None or m < started:
        return ProjectStage.PREPARING
    if done is not None and m >= done:
        return ProjectStage.COMPLETED
    if m == started:
        return ProjectStage.STARTED
    return ProjectStage.MAIN_STRUCTURE if m < started + 4 else ProjectStage.TOPPED_OUT


def _progress(project: Project, manager: User, year: int, last_month: int, row) -> int:
    *_, started, done, problem = row
    investment = project.investment or Decimal(0)
    made = 0
    spent = Decimal(0)
    for m in range(1, last_month + 1):
        stage = _stage(m, started, done)
        if stage is ProjectStage.PREPARING:
            units_started = units_completed = 0
            month_investment = Decimal("12.00") if started is not None or m % 3 == 0 else Decimal(0)
        else:
            units_started = (
                project.units if m > started else math.ceil(project.units * Decimal("0.6"))
            )
            if stage is ProjectStage.COMPLETED:
                units_completed = project.units
            elif done is not None and m == done - 1:
                units_completed = project.units // 2
            else:
                units_completed = 0
            month_investment = (investment * Decimal("0.07")).quantize(Decimal("0.01"))
        month_investment = min(month_investment, max(investment - spent, Decimal(0)))
        spent += month_investment
        projects.record_progress(
            project,
            manager,
            month=date(year, m, 1),
            stage=stage,
            units_started=units_started,
            units_completed=units_completed,
            investment_month=month_investment,
            problems=problem if stage is ProjectStage.PREPARING else None,
        )
        made += 1
    return made


def load_demo_targets(manager: User | None = None) -> dict[str, int]:
    """This year's targets and deadlines (from the seeds) and the demo projects with their
    progress; only what is missing is made (running it again makes nothing)."""
    made = {"targets": 0, "milestones": 0, "projects": 0, "progress": 0}
    manager = _manager(manager)
    if manager is None:
        return made
    year = today().year
    by_name = _districts()
    if not db.session.scalar(sa.select(sa.func.count()).where(Target.year == year)):
        cells = []
        for district_name, _seed_name, values in SEED_TARGETS:
            if district_name is not None and district_name not in by_name:
                continue
            district_id = None if district_name is None else by_name[district_name].id
            cells += [(district_id, kind, units) for kind, units in values.items()]
        merged: dict[tuple[int | None, TargetKind], int] = {}
        for district_id, kind, units in cells:  # 市本级 and 国资委 share the city's line
            merged[(district_id, kind)] = merged.get((district_id, kind), 0) + units
        made["targets"] = targets.set_targets(
            year, [(d, k, u) for (d, k), u in merged.items()], manager
        )["added"]
    if not db.session.scalar(sa.select(sa.func.count()).where(Milestone.year == year)):
        made["milestones"] = targets.set_milestones(year, SEED_MILESTONES, manager)["milestones"]
    existing = set(db.session.scalars(sa.select(Project.name).where(Project.year == year)))
    last_month = today().month - 1
    for row in PROJECTS:
        (district_name, kind, name, address, units, area, cost, start_by, unit, person,
         implementer, certificate, started, done, _problem) = row  # fmt: skip
        if name in existing or district_name not in by_name:
            continue
        floor_area = Decimal(units * area)
        project = projects.create_project(
            manager,
            year=year,
            name=name,
            address=address,
            district_id=by_name[district_name].id,
            kind=kind,
            units=units,
            floor_area=floor_area,
            investment=(floor_area * Decimal(cost)).quantize(Decimal("0.01")),
            start_by=date(year, *start_by) if start_by else None,
            complete_by=date(year, 12, 31) if done else date(year + 2, 6, 30),
            responsible_unit=unit,
            responsible_person=person,
            implementer=implementer,
            certificate=certificate.format(year=year) if certificate else None,
        )
        made["projects"] += 1
        if started != "-":
            made["progress"] += _progress(project, manager, year, last_month, row)
    return made

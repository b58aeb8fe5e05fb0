"""Synthetic department data for the demo city, in the embedded registry.

Two parts, both deterministic, both made idempotently by :func:`load_demo_registry`:

* the households of the five demo residents (``portal.demo.RESIDENTS``), with a spouse and
  children where they have them, so that a person trying the demo and applying with the
  family printed by :func:`describe_demo_families` meets every rule once: eligible, income
  above the line, owned housing too large, eligible only for affordable rental housing;
* about two hundred further households across Guilin's districts (``random.Random(2026)``),
  for volume: local families with modest wages, elderly people on assistance, young
  newcomers with social insurance but no local registration, home owners, business owners.

All people are invented; their ID numbers are valid (GB 11643 check character) and never
collide. Facts are written the way a CSV file gives them: civil affairs names the spouse by
ID number, which the registry keeps only as blind index and mask.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from portal.applications.models import Programme, Relationship
from portal.core import audit
from portal.core.identifiers import make_id_number
from portal.verification.departments import Department
from portal.verification.registry import (
    SPOUSE_COLUMN,
    count_records,
    encode,
    link_spouse,
    write_records,
)

SEED = 2026
SYNTHETIC_HOUSEHOLDS = 200
SOURCE = "demo data"

PS = Department.PUBLIC_SECURITY
CA = Department.CIVIL_AFFAIRS
SS = Department.SOCIAL_SECURITY


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    relationship: Relationship
    # department -> facts as a CSV row gives them (civil affairs: spouse_id_number)
    facts: dict[Department, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Household:
    members: tuple[Person, ...]

    @property
    def applicant(self) -> Person:
        return self.members[0]


@dataclass(frozen=True)
class Expectation:
    """What the rules decide when the demo resident applies with the printed family."""

    programme: Programme
    eligible: bool
    failing_rule: str | None = None  # the rule (RuleResult.code) that fails


@dataclass(frozen=True)
class DemoFamily:
    household: Household
    expectations: tuple[Expectation, ...]


# --- the demo residents' households ------------------------------------------------------


def _resident_number(name: str) -> str:
    from portal.demo import RESIDENTS

    _name, region, birth, seq, _mobile = next(r for r in RESIDENTS if r[0] == name)
    return make_id_number(region, birth, seq)


def _register(name: str, local: bool, district: str, since: str, household_no: str) -> dict:
    return {
        "registered_name": name,
        "hukou_local": local,
        "hukou_district": district,
        "hukou_since": since,
        "household_no": household_no,
    }


def _civil(status: str, spouse: str | None = None, assistance: str = "none") -> dict:
    facts: dict[str, Any] = {"marital_status": status, "assistance": assistance}
    if spouse:
        facts[SPOUSE_COLUMN] = spouse
    return facts


def _work(months: int, wage: int, employer: str) -> dict:
    return {"local_months_continuous": months, "monthly_wage": wage, "employer": employer}


def demo_families() -> list[DemoFamily]:
    """The five demo residents with the family members they should add when applying."""
    zhang = _resident_number("张伟")
    zhang_wife = make_id_number("450302", date(1988, 9, 16), 246)
    zhang_son = make_id_number("450302", date(2014, 5, 20), 131)
    li = _resident_number("李娜")
    wang = _resident_number("王芳")
    liu = _resident_number("刘洋")
    chen = _resident_number("陈静")
    chen_daughter = make_id_number("450321", date(2005, 8, 12), 208)
    fund = Department.HOUSING_FUND
    return [
        DemoFamily(
            Household(
                (
                    Person(
                        "张伟",
                        zhang,
                        Relationship.APPLICANT,
                        {
                            PS: _register("张伟", True, "450302", "2008-06-01", "450302100231"),
                            CA: _civil("married", zhang_wife),
                            SS: _work(96, 1800, "桂林市秀峰区环境卫生管理站"),
                            fund: {"contributing": True, "monthly_base": 1800},
                        },
                    ),
                    Person(
                        "李秀英",
                        zhang_wife,
                        Relationship.SPOUSE,
                        {
                            PS: _register("李秀英", True, "450302", "2012-10-08", "450302100231"),
                            CA: _civil("married", zhang),
                            SS: _work(48, 900, "秀峰区好帮手家政服务部"),
                        },
                    ),
                    Person(
                        "张子涵",
                        zhang_son,
                        Relationship.CHILD,
                        {
                            PS: _register("张子涵", True, "450302", "2014-06-03", "450302100231"),
                            CA: _civil("single"),
                        },
                    ),
                )
            ),
            (Expectation(Programme.PUBLIC_RENTAL, True),),
        ),
        DemoFamily(
            Household(
                (
                    Person(
                        "李娜",
                        li,
                        Relationship.APPLICANT,
                        {
                            # registered in Changsha since university, working back home
                            PS: _register("李娜", False, "430104", "2010-09-01", "430104208817"),
                            CA: _civil("single"),
                            SS: _work(30, 2600, "桂林山水云科技有限公司"),
                            fund: {"contributing": True, "monthly_base": 2600},
                        },
                    ),
                )
            ),
            (
                Expectation(Programme.PUBLIC_RENTAL, False, "income"),
                Expectation(Programme.AFFORDABLE_RENTAL, True),
            ),
        ),
        DemoFamily(
            Household(
                (
                    Person(
                        "王芳",
                        wang,
                        Relationship.APPLICANT,
                        {
                            PS: _register("王芳", True, "450305", "1980-03-15", "450305003316"),
                            CA: _civil("widowed", assistance="dibao"),
                        },
                    ),
                )
            ),
            (Expectation(Programme.PUBLIC_RENTAL, True),),
        ),
        DemoFamily(
            Household(
                (
                    Person(
                        "刘洋",
                        liu,
                        Relationship.APPLICANT,
                        {
                            PS: _register("刘洋", False, "431102", "2017-09-05", "431102305521"),
                            CA: _civil("single"),
                            SS: _work(14, 4000, "桂林创新电子有限公司"),
                            fund: {"contributing": True, "monthly_base": 4000},
                        },
                    ),
                )
            ),
            (
                Expectation(Programme.AFFORDABLE_RENTAL, True),
                Expectation(Programme.PUBLIC_RENTAL, False, "income"),
            ),
        ),
        DemoFamily(
            Household(
                (
                    Person(
                        "陈静",
                        chen,
                        Relationship.APPLICANT,
                        {
                            PS: _register("陈静", True, "450321", "1975-06-10", "450321007745"),
                            CA: _civil("divorced"),
                            SS: _work(120, 1400, "阳朔县西街客栈"),
                            Department.PROPERTY: {"owned_area": 95.0, "properties": 1},
                            Department.VEHICLES: {"vehicles": 1, "total_value": 42000},
                        },
                    ),
                    Person(
                        "何雨桐",
                        chen_daughter,
                        Relationship.CHILD,
                        {
                            PS: _register("何雨桐", True, "450321", "2005-09-01", "450321007745"),
                            CA: _civil("single"),
                        },
                    ),
                )
            ),
            (Expectation(Programme.PUBLIC_RENTAL, False, "housing"),),
        ),
    ]


# --- synthetic households for volume -----------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁郑谢唐韦蒋莫覃蒙秦廖邓"
MEN = [
    "伟",
    "强",
    "军",
    "磊",
    "勇",
    "杰",
    "涛",
    "斌",
    "浩",
    "鹏",
    "俊",
    "明",
    "华",
    "建国",
    "志强",
    "海波",
    "文杰",
    "宇",
    "晨阳",
    "国平",
    "家豪",
    "振华",
    "永福",
    "德胜",
    "卫东",
]
WOMEN = [
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "艳",
    "娟",
    "霞",
    "秀英",
    "玉兰",
    "桂英",
    "婷",
    "雪",
    "慧",
    "丹",
    "红梅",
    "春燕",
    "晓燕",
    "美玲",
    "凤英",
    "秋菊",
    "海燕",
]
BOYS = ["子轩", "浩宇", "宇航", "俊杰", "一鸣", "梓睿", "明轩", "嘉豪", "皓然", "思远"]
GIRLS = ["梓涵", "欣怡", "雨桐", "思琪", "一诺", "可馨", "语嫣", "紫萱", "诗涵", "佳怡"]
EMPLOYERS = (
    "桂林市环境卫生管理处",
    "桂林公交集团有限公司",
    "七星区社区卫生服务中心",
    "临桂新城物业服务有限公司",
    "桂林漓江游船服务有限公司",
    "桂林米粉餐饮管理有限公司",
    "桂林高新区电子元件厂",
    "象山区红星超市",
    "桂林山水云科技有限公司",
    "叠彩区家政服务中心",
    "桂林市第三人民医院",
    "灵川县建筑安装工程公司",
)
# household registers outside the city (newcomers): Changsha, Yongzhou, Nanning, Guangzhou,
# Hezhou, Guiyang
OUTSIDE = ("430104", "431102", "450102", "440106", "451102", "520102")


def _guilin_codes() -> list[str]:
    from portal.demo import GUILIN

    return [code for code, *_rest in GUILIN if code.isdigit()]


class _Maker:
    """Invents people with unique, valid ID numbers from one seeded generator."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng = rng
        self.taken = taken

    def birth(self, first_year: int, last_year: int) -> date:
        r = self.rng
        return date(r.randint(first_year, last_year), r.randint(1, 12), r.randint(1, 28))

    def number(self, region: str, birth: date, male: bool) -> str:
        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if male else 0)
            number = make_id_number(region, birth, seq)
            if number not in self.taken:
                self.taken.add(number)
                return number

    def name(self, surname: str, male: bool, child: bool = False) -> str:
        pool = (BOYS if male else GIRLS) if child else (MEN if male else WOMEN)
        return surname + self.rng.choice(pool)


def synthetic_households(
    count: int = SYNTHETIC_HOUSEHOLDS, seed: int = SEED, taken: set[str] | None = None
) -> list[Household]:
    """``count`` invented households, the same ones for the same seed.

    ``taken`` holds ID numbers not to use (the demo residents' families).
    """
    # reproducible demo data, not a secret: the standard generator is the right one
    rng = random.Random(seed)  # noqa: S311
    maker = _Maker(rng, set(taken or ()))
    codes = _guilin_codes()
    kinds = ["family"] * 35 + ["single"] * 10 + ["aged"] * 12 + ["newcomer"] * 25
    kinds += ["owner"] * 8 + ["business"] * 5 + ["disability"] * 5
    out = []
    for serial in range(1, count + 1):
        kind = rng.choice(kinds)
        district = rng.choice(codes)
        out.append(_household(maker, kind, district, serial))
    return out


def _household(maker: _Maker, kind: str, district: str, serial: int) -> Household:
    r = maker.rng
    local = kind != "newcomer"
    region = district if local else r.choice(OUTSIDE)
    household_no = f"{region}{serial:06d}"
    surname = r.choice(SURNAMES)
    aged = kind == "aged"
    years = (1940, 1964) if aged else (1990, 2003) if kind == "newcomer" else (1966, 1995)
    male = r.random() < 0.5
    married = r.random() < (0.3 if kind == "newcomer" else 0.2 if kind == "single" else 0.75)
    if kind == "single":
        married = False

    def adult(name: str, male: bool, birth: date) -> tuple[str, str, date]:
        return name, maker.number(region, birth, male), birth

    people = [adult(maker.name(surname, male), male, maker.birth(*years))]
    if married:
        first = people[0][2].year
        partner_birth = maker.birth(max(years[0], first - 5), min(years[1], first + 5))
        partner_surname = r.choice(SURNAMES)
        people.append(adult(maker.name(partner_surname, not male), not male, partner_birth))
    children = []
    if married and not aged and kind != "newcomer":
        youngest_parent = max(p[2].year for p in people)
        for _ in range(r.choice((0, 1, 1, 2))):
            year = min(youngest_parent + r.randint(22, 36), 2024)
            birth = maker.birth(year, year)
            boy = r.random() < 0.5
            children.append((maker.name(surname, boy, child=True), boy, birth))

    assistance = "none"
    if aged:
        assistance = r.choice(("dibao", "tekun", "low_income", "none"))
    elif kind in ("family", "disability") and r.random() < 0.15:
        assistance = r.choice(("dibao", "low_income"))
    status = "married" if married else r.choice(("single", "divorced", "widowed"))
    if kind == "newcomer" and not married:
        status = "single"

    members: list[Person] = []
    for i, (name, number, birth) in enumerate(people):
        spouse = people[1 - i][1] if married else None
        # some were registered here at birth, the others moved their registration as adults
        if local and i == 0 and r.random() < 0.4:
            since = birth
        else:
            since = maker.birth(birth.year + 18, max(birth.year + 18, 2024))
        facts: dict[Department, dict[str, Any]] = {
            PS: _register(name, local, region, since.isoformat(), household_no),
            CA: _civil(status, spouse, assistance),
        }
        if not aged and (i == 0 or r.random() < 0.7):
            wage = {
                "newcomer": r.randrange(2500, 7000, 100),
                "business": r.randrange(3000, 9000, 100),
                "owner": r.randrange(1500, 4500, 100),
            }.get(kind, r.randrange(800, 2600, 100))
            months = r.randint(1, 48) if kind == "newcomer" else r.randint(6, 240)
            facts[SS] = _work(months, wage, r.choice(EMPLOYERS))
            if r.random() < 0.4:
                facts[Department.HOUSING_FUND] = {"contributing": True, "monthly_base": wage}
        if i == 0 and kind == "owner":
            area = float(r.randrange(40, 121))
            facts[Department.PROPERTY] = {"owned_area": area, "properties": 1}
        if i == 0 and kind == "business":
            facts[Department.MARKET_REGULATION] = {
                "businesses": 1,
                "registered_capital": r.randrange(30_000, 500_000, 10_000),
            }
        if not aged and r.random() < (0.6 if kind == "business" else 0.15):
            facts[Department.VEHICLES] = {
                "vehicles": 1,
                "total_value": r.randrange(20_000, 180_000, 1_000),
            }
        if kind == "disability" and i == 0:
            facts[Department.DISABILITY] = {"grade": r.randint(1, 4)}
        relation = Relationship.APPLICANT if i == 0 else Relationship.SPOUSE
        members.append(Person(name, number, relation, facts))
    for name, boy, birth in children:
        number = maker.number(region, birth, boy)
        facts = {
            PS: _register(name, local, region, birth.isoformat(), household_no),
            CA: _civil("single"),
        }
        members.append(Person(name, number, Relationship.CHILD, facts))
    return Household(tuple(members))


# --- loading and describing ----------------------------------------------------------------


def all_households() -> list[Household]:
    """The demo residents' households first, then the synthetic ones."""
    families = [f.household for f in demo_families()]
    taken = {p.id_number for h in families for p in h.members}
    return families + synthetic_households(taken=taken)


def _rows(households: list[Household]) -> dict[Department, list[tuple[str, str]]]:
    from portal.accounts.services import id_index

    rows: dict[Department, list[tuple[str, str]]] = {d: [] for d in Department}
    for household in households:
        for person in household.members:
            index = id_index(person.id_number)
            for dept, facts in person.facts.items():
                stored = link_spouse(facts, facts.get(SPOUSE_COLUMN))
                rows[dept].append((index, encode(stored)))
    return rows


def load_demo_registry() -> int:
    """Put the demo households' department data in the registry; returns how many records
    were new (0 when they are all there already). Records already present are left as they
    are, so an operator's corrections survive a second ``flask portal demo``."""
    created = 0
    for dept, rows in _rows(all_households()).items():
        if not rows:
            continue
        before = count_records(dept)
        write_records(dept, rows, source_file=SOURCE, overwrite=False)
        created += count_records(dept) - before
    if created:
        audit.record("registry.demo", actor="cli", records=created)
    return created


PROGRAMME_NAMES = {
    Programme.PUBLIC_RENTAL: "public rental housing",
    Programme.RENTAL_SUBSIDY: "rental subsidy",
    Programme.AFFORDABLE_RENTAL: "affordable rental housing",
}
FAILING_RULES = {
    "income": "income above the line",
    "housing": "owns too much housing",
    "residency_none": "neither local registration nor social insurance",
    "household_spouse_missing": "a registered spouse is not declared",
}


def describe_demo_families() -> list[str]:
    """Lines for the demo printout: whom each demo resident should add when applying, and
    what the rules will decide."""
    lines = [
        "Department data (embedded registry): the demo residents' households and "
        f"{SYNTHETIC_HOUSEHOLDS} more invented households.",
        "  Apply as a demo resident with exactly these household members:",
    ]
    for family in demo_families():
        applicant, *others = family.household.members
        if others:
            who = ", ".join(f"{p.relationship.value} {p.name} (ID {p.id_number})" for p in others)
            lines.append(f"    {applicant.name}: add {who}")
        else:
            lines.append(f"    {applicant.name}: applies alone")
        outcomes = []
        for e in family.expectations:
            verdict = (
                "eligible" if e.eligible else f"not eligible ({FAILING_RULES[e.failing_rule]})"
            )
            outcomes.append(f"{PROGRAMME_NAMES[e.programme]}: {verdict}")
        lines.append("      " + "; ".join(outcomes))
    return lines

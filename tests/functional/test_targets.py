"""Yearly targets (目标任务): the task table in the plan's shape with computed subtotals, the
edit grid (bad cells shown with what was typed, the year replaced in one go, audited), the
deadlines, managers only, and the demo's table from seed 001."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import District, DistrictKind
from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.reports import targets
from portal.reports.models import Project, ProjectProgress, Target, TargetKind, TargetMilestone
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff, page_text, staff_browser

K = TargetKind
YEAR = 2026


@pytest.fixture
def places(db):
    """Two urban districts, a development zone and two counties, in the table's order."""
    return {
        "a": DistrictFactory(name_en="Alpha District", sort_order=1),
        "zone": DistrictFactory(name_en="Beta Zone", kind=DistrictKind.ZONE, sort_order=2),
        "b": DistrictFactory(name_en="Gamma District", sort_order=3),
        "c1": DistrictFactory(name_en="Delta County", kind=DistrictKind.COUNTY, sort_order=4),
        "c2": DistrictFactory(name_en="Epsilon County", kind=DistrictKind.COUNTY, sort_order=5),
    }


@pytest.fixture
def manager(db):
    return make_staff(Role.MANAGER)


def cells(places):
    return [
        (None, K.NEW_ALLOCATIONS, 801),
        (places["a"].id, K.RENOVATION_STARTS_CARRIED, 390),
        (places["a"].id, K.RENOVATION_STARTS_NEW, 1488),
        (places["zone"].id, K.PUBLIC_RENTAL_STARTS, 3108),
        (places["b"].id, K.RENOVATION_STARTS_CARRIED, 131),
        (places["c1"].id, K.RENOVATION_STARTS_CARRIED, 1804),
        (places["c1"].id, K.SUBSIDY_HOUSEHOLDS, 0),
        (places["c2"].id, K.RENOVATION_STARTS_NEW, 200),
        (places["c2"].id, K.NEW_ALLOCATIONS, 68),
    ]


def row_cells(html: str, label: str) -> list[str]:
    """The cells of the table line headed ``label``."""
    m = re.search(r"<th scope=\"row\">" + re.escape(label) + r"</th>(.*?)</tr>", html, re.S)
    assert m, label
    return re.findall(r"<td class=\"num\">([^<]*)</td>", m.group(1))


def test_the_table_has_the_plans_shape_with_computed_subtotals(app, places, manager):
    targets.set_targets(YEAR, cells(places), manager)
    html = page_text(staff_browser(app, manager).get(f"/manager/targets?year={YEAR}"))
    labels = re.findall(r"<th scope=\"row\">([^<]+)</th>", html)
    assert labels[:9] == [
        "Whole city: total",
        "Urban districts: subtotal",
        "City level (the city's own share)",
        "Alpha District",
        "Beta Zone",
        "Gamma District",
        "Counties: subtotal",
        "Delta County",
        "Epsilon County",
    ]
    # columns: starts subtotal, carried, new, completed, households, PR starts, PR completed,
    # allocations, affordable rental starts
    assert row_cells(html, "Alpha District") == ["1878", "390", "1488", "", "", "", "", "", ""]
    assert row_cells(html, "Urban districts: subtotal") == [
        "2009", "521", "1488", "", "", "3108", "", "801", ""
    ]  # fmt: skip
    assert row_cells(html, "Counties: subtotal") == [
        "2004", "1804", "200", "", "0", "", "", "68", ""
    ]  # fmt: skip
    assert row_cells(html, "Whole city: total") == [
        "4013", "2325", "1688", "", "0", "3108", "", "869", ""
    ]  # fmt: skip
    assert "Shanty-town renovation" in html
    assert "Starts: subtotal" in html


def test_a_year_without_targets_says_so(app, manager):
    browser = staff_browser(app, manager)
    html = page_text(browser.get("/manager/targets?year=2031"))
    assert "No targets are set for 2031 yet." in html
    html = page_text(browser.get("/manager/targets?year=nonsense"))
    assert f"Targets {today().year}" in html


def grid_form(places, **typed):
    """The edit grid's inputs with ``typed`` (name → text)."""
    data = {}
    keys = ["city", *(str(d.id) for d in places.values())]
    for key in keys:
        for kind in K:
            data[targets.cell_name(key, kind)] = ""
    data.update(typed)
    data["milestone_rows"] = "0"
    return data


def test_bad_cells_are_shown_with_what_was_typed_and_nothing_is_saved(app, db, places, manager):
    browser = staff_browser(app, manager)
    a, c1 = places["a"].id, places["c1"].id
    typed = {
        targets.cell_name(str(a), K.RENOVATION_STARTS_NEW): "-5",
        targets.cell_name(str(a), K.SUBSIDY_HOUSEHOLDS): "12.5",
        targets.cell_name(str(c1), K.NEW_ALLOCATIONS): "2000000",
        targets.cell_name("city", K.NEW_ALLOCATIONS): "801",
    }
    resp = browser.post_form(f"/manager/targets/{YEAR}", grid_form(places, **typed))
    assert resp.status_code == 422
    html = page_text(resp)
    assert "A target cannot be negative." in html
    assert "Give a whole number of units, like 120." in html
    assert "A target is at most 1,000,000 units." in html
    assert "Alpha District: Shanty-town renovation starts: this year's national plan" in html
    for value in ("-5", "12.5", "2000000", "801"):
        assert f'value="{value}"' in html
    assert html.count('aria-invalid="true"') == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Target)) == 0


def test_every_input_has_a_label_for_screen_readers(app, places, manager):
    html = page_text(staff_browser(app, manager).get(f"/manager/targets/{YEAR}"))
    name = targets.cell_name(str(places["zone"].id), K.PUBLIC_RENTAL_STARTS)
    label = "Beta Zone: Public rental housing: new starts"
    assert f'<label class="visually-hidden" for="{name}">{label}</label>' in html
    inputs = re.findall(r'<input type="text" id="([^"]+)"', html)
    labels = set(re.findall(r'<label class="visually-hidden" for="([^"]+)"', html))
    assert inputs
    assert set(inputs) <= labels


def test_saving_replaces_the_years_cells_and_is_audited(app, db, places, manager):
    targets.set_targets(YEAR, cells(places), manager)
    targets.set_targets(YEAR - 1, [(None, K.NEW_ALLOCATIONS, 5)], manager)
    browser = staff_browser(app, manager)
    form = dict(
        grid_form(places),
        **{
            k: str(v)
            for k, v in targets.grid_of(targets.targets_table(YEAR)).raw.items()
            if v != ""
        },
    )
    a = str(places["a"].id)
    form[targets.cell_name(a, K.RENOVATION_STARTS_NEW)] = "1500"  # changed
    form[targets.cell_name("city", K.NEW_ALLOCATIONS)] = ""  # removed
    form[targets.cell_name(a, K.SUBSIDY_HOUSEHOLDS)] = "36"  # added
    resp = browser.post_form(f"/manager/targets/{YEAR}", form)
    assert resp.status_code == 302, page_text(resp)[:2000]
    assert resp.headers["Location"].endswith(f"/manager/targets?year={YEAR}")
    stored = targets.cells_of(YEAR)
    assert None not in stored  # the city's line has no target any more
    assert stored[places["a"].id][K.RENOVATION_STARTS_NEW] == 1500
    assert stored[places["a"].id][K.SUBSIDY_HOUSEHOLDS] == 36
    assert targets.cells_of(YEAR - 1) == {None: {K.NEW_ALLOCATIONS: 5}}  # another year stays
    event = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.event == "targets.set")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert '"added": 1' in event.details
    assert '"changed": 1' in event.details
    assert '"removed": 1' in event.details
    html = page_text(browser.get(f"/manager/targets?year={YEAR}"))
    assert "1 cells added, 1 changed, 1 removed" in html


def test_the_service_refuses_bad_cells_with_every_problem(places, manager):
    from portal.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as err:
        targets.set_targets(
            YEAR,
            [
                (None, "renovation_completions", -1),
                (None, "nonsense", 5),
                (999999, "new_allocations", 1),
            ],
            manager,
        )
    assert len(err.value.details["problems"]) == 3


def milestone_form(places, rows):
    data = grid_form(places)
    data["milestone_rows"] = str(len(rows))
    for i, (kind, month, share) in enumerate(rows):
        data.update({f"m-{i}-kind": kind, f"m-{i}-month": month, f"m-{i}-share": share})
    return data


def test_deadlines_are_kept_and_checked(app, db, places, manager):
    browser = staff_browser(app, manager)
    targets.set_targets(YEAR, [(places["a"].id, K.RENOVATION_STARTS_NEW, 1000)], manager)
    base = {targets.cell_name(str(places["a"].id), K.RENOVATION_STARTS_NEW): "1000"}
    rows = [
        ("renovation_starts_new", "6", "80"),
        ("renovation_starts_new", "9", "100"),
        ("", "", ""),
    ]
    resp = browser.post_form(f"/manager/targets/{YEAR}", {**milestone_form(places, rows), **base})
    assert resp.status_code == 302
    got = db.session.scalars(
        sa.select(TargetMilestone)
        .where(TargetMilestone.year == YEAR)
        .order_by(TargetMilestone.by_month)
    ).all()
    assert [(m.by_month, m.share_percent) for m in got] == [(6, 80), (9, 100)]
    html = page_text(browser.get(f"/manager/targets?year={YEAR}"))
    assert "June" in html
    assert "80%" in html
    assert row_cells(html, "Shanty-town renovation starts: this year's national plan") == [
        "80%",
        "800",
    ]

    # a bad share, a month twice, and a later deadline asking for less: nothing changes
    bad = [("renovation_starts_new", "6", "150")]
    resp = browser.post_form(f"/manager/targets/{YEAR}", {**milestone_form(places, bad), **base})
    assert resp.status_code == 422
    html = page_text(resp)
    assert "Give a share from 1 to 100 (per cent)." in html
    assert 'value="150"' in html
    twice = [("renovation_starts_new", "6", "50"), ("renovation_starts_new", "6", "60")]
    resp = browser.post_form(f"/manager/targets/{YEAR}", {**milestone_form(places, twice), **base})
    assert resp.status_code == 422
    assert "two deadlines at the end of the same month" in page_text(resp)
    less = [("renovation_starts_new", "6", "80"), ("renovation_starts_new", "9", "60")]
    resp = browser.post_form(f"/manager/targets/{YEAR}", {**milestone_form(places, less), **base})
    assert resp.status_code == 422
    assert "a later deadline cannot ask for a smaller share" in page_text(resp)
    assert len(targets.milestones_of(YEAR)) == 2

    # leaving a row's task empty removes it
    resp = browser.post_form(
        f"/manager/targets/{YEAR}",
        {**milestone_form(places, [("", "", ""), ("renovation_starts_new", "9", "100")]), **base},
    )
    assert resp.status_code == 302
    db.session.expire_all()  # the row's id may be used again
    assert [(m.by_month, m.share_percent) for m in targets.milestones_of(YEAR)] == [(9, 100)]


@pytest.mark.parametrize("path", ["/manager/targets", f"/manager/targets/{YEAR}"])
def test_only_managers_see_or_change_targets(app, staff_client, resident_client, path):
    resp = app.test_client().get(path)
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]
    for role in (Role.OFFICER, Role.ADMIN, Role.AUDITOR):
        browser, _ = staff_client(role)
        assert browser.get(path).status_code == 403
    assert resident_client.get(path).status_code == 403


def test_an_officer_cannot_post_targets(staff_client, db):
    browser, _ = staff_client(Role.OFFICER)
    resp = browser.post_form(f"/manager/targets/{YEAR}", {"milestone_rows": "0"})
    assert resp.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Target)) == 0


# --- the demo ------------------------------------------------------------------------------


@pytest.fixture
def guilin(db):
    from portal.demo import GUILIN

    for order, (code, zh, en, kind) in enumerate(GUILIN):
        db.session.add(District(code=code, name_zh=zh, name_en=en, kind=kind, sort_order=order))
    db.session.flush()


def test_the_demo_loads_seed_001_once_with_its_totals(guilin, manager, db):
    from portal.reports.demo import load_demo_targets
    from portal.reports.projects import is_late_to_start

    with time_machine.travel(datetime(2026, 11, 15, 4, tzinfo=UTC), tick=False):
        made = load_demo_targets(manager)
        assert made["targets"] > 0
        assert made["milestones"] == 8
        assert made["projects"] == 16
        assert made["progress"] == 15 * 10  # January to October; one project never reported
        table = targets.targets_table(2026)
        total, urban = table.rows[0].values, table.rows[1].values
        counties = [r for r in table.rows if r.kind == "subtotal"][1].values
        # the seed's 下达任务 line
        assert total["renovation_starts"] == 7298
        assert total[K.RENOVATION_STARTS_CARRIED.value] == 5290
        assert total[K.RENOVATION_STARTS_NEW.value] == 2008
        assert total[K.RENOVATION_COMPLETIONS.value] == 4000
        assert total[K.SUBSIDY_HOUSEHOLDS.value] == 2000
        assert total[K.PUBLIC_RENTAL_STARTS.value] == 3108
        assert total[K.PUBLIC_RENTAL_COMPLETIONS.value] == 60
        assert total[K.NEW_ALLOCATIONS.value] == 1355
        # its 市区合计 and 各县合计 lines
        assert (urban["renovation_starts"], urban[K.RENOVATION_STARTS_CARRIED.value]) == (
            4512,
            2704,
        )
        assert (urban[K.SUBSIDY_HOUSEHOLDS.value], urban[K.NEW_ALLOCATIONS.value]) == (541, 1101)
        assert (counties["renovation_starts"], counties[K.SUBSIDY_HOUSEHOLDS.value]) == (2786, 1459)
        assert counties[K.NEW_ALLOCATIONS.value] == 254

        counts = [
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Target, TargetMilestone, Project, ProjectProgress)
        ]
        again = load_demo_targets(manager)
        assert again == {"targets": 0, "milestones": 0, "projects": 0, "progress": 0}
        assert [
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Target, TargetMilestone, Project, ProjectProgress)
        ] == counts
        projects = db.session.scalars(sa.select(Project).where(Project.year == 2026)).all()
        late = {p.name for p in projects if is_late_to_start(p)}
        assert late == {
            "资源县资源镇老城片区棚户区改造项目",
            "桂林经开区秧塘园区公共租赁住房项目",
            "雁山区大学城保障性租赁住房项目",
        }
        assert sum(p.completed_on is not None for p in projects) == 4
        assert sum(p.started_on is not None for p in projects) == 13

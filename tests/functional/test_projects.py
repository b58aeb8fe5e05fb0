"""Construction projects and their monthly progress: added and changed on the pages, the
progress rules (cumulative units within the project, completed within started, never down
from the month before), corrections, start and completion dates, late starts; managers
only."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.reports import projects as svc
from portal.reports.models import Project, ProjectKind, ProjectProgress, ProjectStage
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff, page_text, staff_browser

THIS_MONTH = today().replace(day=1)


def months_ago(n: int) -> date:
    month = THIS_MONTH
    for _ in range(n):
        month = (month - timedelta(days=1)).replace(day=1)
    return month


def key(month: date) -> str:
    return month.strftime("%Y-%m")


@pytest.fixture
def manager(db):
    return make_staff(Role.MANAGER)


@pytest.fixture
def browser(app, manager):
    return staff_browser(app, manager)


def project_fields(district, **changes):
    values = {
        "year": str(today().year),
        "name": "七星区东江片区棚户区改造项目",
        "address": "桂林市七星区东江路一带",
        "district_id": str(district.id),
        "kind": "renovation",
        "units": "1200",
        "floor_area": "102000.00",
        "investment": "35700.00",
        "start_by": (today() - timedelta(days=10)).isoformat(),
        "complete_by": "",
        "responsible_unit": "七星区人民政府",
        "responsible_person": "王建华",
        "implementer": "桂林市城市建设投资集团有限公司",
        "certificate": "",
        "remarks": "",
    }
    values.update(changes)
    return values


def make_project(district, manager, **changes) -> Project:
    values = project_fields(district, **changes)
    return svc.create_project(manager, **{k: v for k, v in values.items() if v != ""})


def test_a_manager_adds_a_project_and_bad_input_is_kept(browser, district, db):
    resp = browser.post_form("/manager/projects/new", project_fields(district, units="lots"))
    assert resp.status_code == 422
    html = page_text(resp)
    assert "Give the number of units" in html
    assert 'value="lots"' in html
    assert 'value="七星区东江片区棚户区改造项目"' in html
    resp = browser.post_form("/manager/projects/new", project_fields(district, investment="12.345"))
    assert resp.status_code == 422
    assert "planned investment in 10,000 yuan" in page_text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Project)) == 0

    resp = browser.post_form("/manager/projects/new", project_fields(district))
    assert resp.status_code == 302
    project = db.session.scalars(sa.select(Project)).one()
    assert resp.headers["Location"].endswith(f"/manager/projects/{project.id}")
    assert project.investment == Decimal("35700.00")
    assert project.kind is ProjectKind.RENOVATION
    html = page_text(browser.get(f"/manager/projects/{project.id}"))
    assert "王建华" in html
    assert "Late to start" in html
    html = page_text(browser.get(f"/manager/projects?year={today().year}&late=1"))
    assert "七星区东江片区棚户区改造项目" in html


def test_a_manager_changes_a_project(browser, district, manager, db):
    project = make_project(district, manager)
    resp = browser.get(f"/manager/projects/{project.id}/edit")
    assert 'value="1200"' in page_text(resp)
    resp = browser.post_form(
        f"/manager/projects/{project.id}/edit",
        project_fields(district, responsible_person="李国强", units="1300"),
    )
    assert resp.status_code == 302
    db.session.refresh(project)
    assert (project.responsible_person, project.units) == ("李国强", 1300)
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.event == "project.updated")
    ).one()
    assert "李国强" in event.details
    resp = browser.post_form(
        f"/manager/projects/{project.id}/edit",
        project_fields(district, start_by="2026-09-30", complete_by="2026-01-31"),
    )
    assert resp.status_code == 422
    assert "cannot come before the start deadline" in page_text(resp)


def progress(month, stage="started", started="0", completed="0", investment="0", **more):
    return {
        "month": month,
        "stage": stage,
        "units_started": started,
        "units_completed": completed,
        "investment_month": investment,
        **more,
    }


def test_progress_rules_and_dates(browser, district, manager, db):
    project = make_project(district, manager, units="100")
    url = f"/manager/projects/{project.id}/progress"
    two, one, now = key(months_ago(2)), key(months_ago(1)), key(THIS_MONTH)

    # completed above started
    resp = browser.post_form(url, progress(two, started="50", completed="60"))
    assert resp.status_code == 422
    assert "Units completed (60) cannot be more than units started (50)." in page_text(resp)
    # more than the project's units
    resp = browser.post_form(url, progress(two, started="120"))
    assert resp.status_code == 422
    assert "At most the project's 100 units." in page_text(resp)
    assert 'value="120"' in page_text(resp)
    # a month not yet begun
    next_month = (THIS_MONTH + timedelta(days=31)).replace(day=1)
    resp = browser.post_form(url, progress(key(next_month), started="10"))
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectProgress)) == 0

    resp = browser.post_form(url, progress(two, started="60", investment="350.50"))
    assert resp.status_code == 302
    db.session.refresh(project)
    assert project.started_on == months_ago(2)  # the first day of the month first started

    # lower than the month before
    resp = browser.post_form(url, progress(one, started="40"))
    assert resp.status_code == 422
    assert f"Units started cannot go down: {two} already recorded 60." in page_text(resp)

    resp = browser.post_form(
        url, progress(one, stage="main_structure", started="100", completed="20", investment="100")
    )
    assert resp.status_code == 302
    # correcting the earlier month above the later one is refused
    resp = browser.post_form(url, progress(two, started="100", completed="30"))
    assert resp.status_code == 422
    assert "correct that month first" in page_text(resp)
    # correcting it within the later month's figures is a correction, not a new record
    given = months_ago(2) + timedelta(days=9)
    resp = browser.post_form(
        url, progress(two, started="80", investment="300", started_on=given.isoformat())
    )
    assert resp.status_code == 302
    records = db.session.scalars(
        sa.select(ProjectProgress)
        .where(ProjectProgress.project_id == project.id)
        .order_by(ProjectProgress.month)
    ).all()
    assert [(r.units_started, r.investment_total) for r in records] == [
        (80, Decimal("300.00")),
        (100, Decimal("400.00")),
    ]
    db.session.refresh(project)
    assert project.started_on == given

    # basically completed needs every unit completed; then the completion date is set
    resp = browser.post_form(url, progress(now, stage="completed", started="100", completed="90"))
    assert resp.status_code == 422
    resp = browser.post_form(url, progress(now, stage="completed", started="100", completed="100"))
    assert resp.status_code == 302
    db.session.refresh(project)
    assert project.completed_on == THIS_MONTH
    html = page_text(browser.get(f"/manager/projects/{project.id}"))
    assert "Basically completed" in html
    assert "400.00" in html
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "project.progress_recorded")
        )
        == 4
    )


def test_the_service_keeps_the_same_rules(district, manager):
    project = make_project(district, manager, units="10")
    with pytest.raises(ValidationFailed) as err:
        svc.record_progress(
            project,
            manager,
            month=key(THIS_MONTH),
            stage=ProjectStage.PREPARING,
            units_started=0,
            units_completed=0,
            investment_month=1.5,  # a float is refused: money is Decimal
        )
    assert err.value.field == "investment_month"
    with pytest.raises(ValidationFailed) as err:
        svc.record_progress(
            project,
            manager,
            month=key(THIS_MONTH),
            stage=ProjectStage.STARTED,
            units_started=0,
            units_completed=0,
            investment_month="0",
        )
    assert err.value.field == "units_started"
    record = svc.record_progress(
        project,
        manager,
        month=key(THIS_MONTH),
        stage=ProjectStage.PREPARING,
        units_started=0,
        units_completed=0,
        investment_month="12.00",
        problems="用地报批手续尚未完成",
    )
    assert record.investment_total == Decimal("12.00")
    assert project.started_on is None
    with pytest.raises(ValidationFailed):
        svc.update_project(project, manager, units=0)


def test_the_list_filters_by_district_and_kind(browser, district, manager):
    other = DistrictFactory(name_en="Other District")
    make_project(district, manager, name="甲项目")
    make_project(other, manager, name="乙项目", kind="affordable_rental")
    year = today().year
    html = page_text(browser.get(f"/manager/projects?year={year}"))
    assert "甲项目" in html
    assert "乙项目" in html
    assert "2 projects" in html
    html = page_text(browser.get(f"/manager/projects?year={year}&district={other.id}"))
    assert "甲项目" not in html
    assert "乙项目" in html
    html = page_text(browser.get(f"/manager/projects?year={year}&kind=renovation"))
    assert "甲项目" in html
    assert "乙项目" not in html
    html = page_text(browser.get(f"/manager/projects?year={year - 1}"))
    assert "No project matches." in html


@pytest.mark.parametrize("who", [Role.OFFICER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR])
def test_only_managers_reach_projects(staff_client, district, manager, who, db):
    project = make_project(district, manager)
    browser, _ = staff_client(who, **({"districts": [district]} if who is Role.OFFICER else {}))
    for path in (
        "/manager/projects",
        "/manager/projects/new",
        f"/manager/projects/{project.id}",
        f"/manager/projects/{project.id}/edit",
    ):
        resp = browser.get(path)
        assert resp.status_code == 403, path
        assert "王建华" not in resp.get_data(as_text=True)
    resp = browser.post_form(
        f"/manager/projects/{project.id}/progress", progress(key(THIS_MONTH), started="5")
    )
    assert resp.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectProgress)) == 0


def test_a_resident_is_refused_and_a_visitor_sent_to_sign_in(app, resident_client):
    assert resident_client.get("/manager/projects").status_code == 403
    resp = app.test_client().get("/manager/projects")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]

"""The API of targets, projects and ledgers: managers only, the same rules as the pages,
problem documents for bad input, ledgers polled and downloaded by their owner only."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.reports.models import Project, Target
from tests.factories import PASSWORD, DistrictFactory
from tests.factories.fixtures import make_staff, totp_now

PROBLEM = "application/problem+json"
YEAR = today().year
THIS_MONTH = today().replace(day=1)


@pytest.fixture
def token_of(client):
    addresses = itertools.count(1)

    def make(user) -> dict[str, str]:
        body = {"identifier": user.username, "password": PASSWORD, "code": totp_now(user)}
        resp = client.post(
            "/api/v1/auth/token",
            json=body,
            environ_base={"REMOTE_ADDR": f"198.51.100.{next(addresses)}"},
        )
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}

    return make


@pytest.fixture
def call(client, token_of):
    """``call(method, url, json=None)`` as a new manager, answers in English."""
    headers = {**token_of(make_staff(Role.MANAGER)), "Accept-Language": "en"}

    def do(method: str, url: str, json=None):
        return client.open(url, method=method, headers=headers, json=json)

    return do


@pytest.fixture
def places(db):
    return DistrictFactory(code="450305", sort_order=1), DistrictFactory(
        code="450329", sort_order=2
    )


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    return resp.get_json(force=True)


def test_targets_are_read_and_replaced(call, places, db):
    body = {
        "cells": [
            {"district_code": None, "kind": "new_allocations", "units": 801},
            {"district_code": "450305", "kind": "renovation_starts_carried", "units": 2183},
            {"district_code": "450305", "kind": "renovation_starts_new", "units": 320},
            {"district_code": "450329", "kind": "renovation_starts_carried", "units": 497},
        ],
        "milestones": [{"kind": "renovation_starts_new", "by_month": 6, "share_percent": 80}],
    }
    resp = call("PUT", f"/api/v1/staff/targets/{YEAR}", body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data = resp.get_json()
    assert len(data["cells"]) == 4
    total = data["table"][0]
    assert total["line"] == "total"
    assert total["values"]["renovation_starts"] == 3000
    assert total["values"]["new_allocations"] == 801
    assert total["values"]["subsidy_households"] is None
    assert data["milestones"] == [
        {"kind": "renovation_starts_new", "by_month": 6, "share_percent": 80}
    ]
    # the whole year is replaced: a cell left out is gone; the deadlines stay when not given
    resp = call("PUT", f"/api/v1/staff/targets/{YEAR}", {"cells": body["cells"][1:2]})
    assert resp.status_code == 200
    assert call("GET", f"/api/v1/staff/targets/{YEAR}").get_json()["cells"] == [
        {"district_code": "450305", "kind": "renovation_starts_carried", "units": 2183}
    ]
    assert len(call("GET", f"/api/v1/staff/targets/{YEAR}").get_json()["milestones"]) == 1


def test_bad_targets_are_problem_documents(call, places, db):
    bad = {
        "cells": [
            {"district_code": "450305", "kind": "new_allocations", "units": -3},
            {"district_code": "450305", "kind": "subsidy_households", "units": 2_000_000},
        ]
    }
    body = problem(call("PUT", f"/api/v1/staff/targets/{YEAR}", bad), 422)
    assert "negative" in body["detail"]
    body = problem(
        call(
            "PUT",
            f"/api/v1/staff/targets/{YEAR}",
            {"cells": [{"district_code": "999999", "kind": "new_allocations", "units": 1}]},
        ),
        422,
    )
    assert "999999" in body["detail"]
    problem(call("PUT", f"/api/v1/staff/targets/{YEAR}", {"cells": [{"kind": "x"}]}), 422)
    milestones = {
        "cells": [],
        "milestones": [{"kind": "renovation_starts_new", "by_month": 13, "share_percent": 80}],
    }
    problem(call("PUT", f"/api/v1/staff/targets/{YEAR}", milestones), 422)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Target)) == 0


def new_project(**changes):
    body = {
        "year": YEAR,
        "name": "资源县资源镇老城片区棚户区改造项目",
        "address": "资源县资源镇老城区",
        "district_code": "450329",
        "kind": "renovation",
        "units": 497,
        "floor_area": "41748.00",
        "investment": "11271.96",
        "start_by": (today() - timedelta(days=1)).isoformat(),
        "responsible_unit": "资源县人民政府",
        "responsible_person": "赵磊",
        "implementer": "资源县城市建设投资有限公司",
    }
    body.update(changes)
    return body


def test_projects_and_progress(call, places, db):
    resp = call("POST", "/api/v1/staff/projects", new_project())
    assert resp.status_code == 201, resp.get_data(as_text=True)
    project = resp.get_json()
    assert project["late_to_start"] is True
    assert project["progress"] == []
    assert project["investment"] == "11271.96"
    pid = project["id"]

    resp = call("GET", f"/api/v1/staff/projects?year={YEAR}&district_code=450329&late=true")
    assert [p["id"] for p in resp.get_json()["projects"]] == [pid]
    assert call("GET", f"/api/v1/staff/projects?year={YEAR}&kind=public_rental").get_json() == {
        "projects": []
    }

    month = THIS_MONTH.strftime("%Y-%m")
    progress = {
        "month": month,
        "stage": "started",
        "units_started": 300,
        "units_completed": 0,
        "investment_month": "850.00",
    }
    resp = call("POST", f"/api/v1/staff/projects/{pid}/progress", progress)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    data = resp.get_json()
    assert data["started_on"] == THIS_MONTH.isoformat()
    assert data["late_to_start"] is False
    assert data["latest"]["units_started"] == 300
    assert data["latest"]["investment_total"] == "850.00"

    body = problem(
        call(
            "POST",
            f"/api/v1/staff/projects/{pid}/progress",
            {**progress, "units_started": 100, "units_completed": 200},
        ),
        422,
    )
    assert body["errors"] == {"units_completed": [body["detail"]]}
    problem(
        call("POST", f"/api/v1/staff/projects/{pid}/progress", {**progress, "units_started": 600}),
        422,
    )
    problem(
        call("POST", f"/api/v1/staff/projects/{pid}/progress", {**progress, "month": "2026-13"}),
        422,
    )
    resp = call("PUT", f"/api/v1/staff/projects/{pid}", {"responsible_person": "钱进"})
    assert resp.status_code == 200
    assert resp.get_json()["responsible_person"] == "钱进"
    problem(call("PUT", f"/api/v1/staff/projects/{pid}", {"units": 100}), 422)  # 300 started
    assert call("GET", f"/api/v1/staff/projects/{pid}").get_json()["units"] == 497
    assert call("GET", "/api/v1/staff/projects/999999").status_code == 404
    problem(call("POST", "/api/v1/staff/projects", new_project(investment="lots")), 422)
    problem(call("POST", "/api/v1/staff/projects", new_project(district_code="000000")), 422)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Project)) == 1


def test_a_ledger_is_asked_polled_and_downloaded_by_its_owner(call, client, token_of, places):
    call("POST", "/api/v1/staff/projects", new_project())
    resp = call(
        "POST",
        "/api/v1/staff/ledgers",
        {"kind": "responsibility_list", "format": "xlsx", "year": YEAR},
    )
    assert resp.status_code == 202, resp.get_data(as_text=True)
    export = resp.get_json()
    assert export["params"] == {"year": YEAR}
    status = call("GET", export["status_url"]).get_json()
    assert status["status"] == "done"  # built in-process without a job queue
    assert status["file"] == f"/api/v1/staff/ledgers/{export['id']}/file"
    resp = call("GET", status["file"])
    assert resp.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(resp.get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:5] == (
        1,
        "资源县资源镇老城片区棚户区改造项目",
        "资源县资源镇老城区",
        "资源县人民政府",
        "赵磊",
    )

    other = token_of(make_staff(Role.MANAGER))
    assert client.get(export["status_url"], headers=other).status_code == 404
    assert client.get(status["file"], headers=other).status_code == 404

    body = problem(
        call(
            "POST",
            "/api/v1/staff/ledgers",
            {"kind": "progress_ledger", "format": "csv", "year": YEAR},
        ),
        422,
    )
    assert body["errors"] == {"month": [body["detail"]]}
    problem(
        call(
            "POST", "/api/v1/staff/ledgers", {"kind": "project_list", "format": "pdf", "year": YEAR}
        ),
        422,
    )
    month = THIS_MONTH.strftime("%Y-%m")
    resp = call(
        "POST",
        "/api/v1/staff/ledgers",
        {"kind": "progress_ledger", "format": "csv", "year": YEAR, "month": month},
    )
    assert resp.status_code == 202
    assert resp.get_json()["params"] == {"year": YEAR, "month": month}


@pytest.mark.parametrize("role", [Role.OFFICER, Role.ADMIN, Role.AUDITOR])
def test_only_managers_use_the_api(client, token_of, role, places):
    headers = token_of(make_staff(role))
    for method, url in (
        ("GET", f"/api/v1/staff/targets/{YEAR}"),
        ("PUT", f"/api/v1/staff/targets/{YEAR}"),
        ("GET", "/api/v1/staff/projects"),
        ("POST", "/api/v1/staff/projects"),
        ("POST", "/api/v1/staff/ledgers"),
    ):
        resp = client.open(url, method=method, headers=headers, json={"cells": []})
        assert resp.status_code == 403, (method, url)
    assert client.get("/api/v1/staff/projects").status_code == 401


def test_the_paths_are_documented(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/staff/targets/{year}",
        "/api/v1/staff/projects",
        "/api/v1/staff/projects/{project_id}",
        "/api/v1/staff/projects/{project_id}/progress",
        "/api/v1/staff/ledgers",
        "/api/v1/staff/ledgers/{export_id}",
        "/api/v1/staff/ledgers/{export_id}/file",
    ):
        assert path in paths, path

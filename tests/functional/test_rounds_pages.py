"""The rounds pages for officers and managers: drafting with the unit picker, proposing,
the manager's decision (with the four-eyes 409), drawing, assigning in order, cancelling,
and scope (another district's round is a 404)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.allocation import services
from portal.allocation.models import AllocationRound, Method, RoundEntrant, RoundStatus
from portal.applications.models import Programme
from portal.housing.models import UnitStatus
from portal.waitlist.models import Group
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff, sign_in_staff
from tests.factories.housing import EstateFactory, UnitFactory
from tests.factories.waitlist import waiting_entry


@pytest.fixture
def district():
    return DistrictFactory(name_en="Xiufeng District", name_zh="秀峰区")


@pytest.fixture
def estate(district):
    return EstateFactory(district=district, name="七星小区")


@pytest.fixture
def officer_client(app, district):
    user = make_staff(Role.OFFICER, districts=[district], locale="en")
    return _client(app, user), user


def _client(app, user):
    client = app.test_client()
    client.set_cookie("locale", "en", domain="portal.test")
    sign_in_staff(client, user)
    return client


def _draft(officer, district, units, **kw):
    args = {
        "district": district,
        "programme": Programme.PUBLIC_RENTAL,
        "title": "2026年第一批",
        "method": Method.LOTTERY,
        "groups": [Group.G],
        "unit_ids": [u.id for u in units],
    }
    args.update(kw)
    return services.create_round(officer, **args)


def _text(resp) -> str:
    return resp.get_data(as_text=True)


def test_officer_drafts_a_round_with_the_unit_picker(officer_client, district, estate, db):
    client, _ = officer_client
    units = [UnitFactory(estate=estate, area=Decimal("42.00")) for _ in range(2)]
    let = UnitFactory(estate=estate, status=UnitStatus.OCCUPIED)
    page = client.get(f"/staff/rounds/new?district={district.code}")
    assert page.status_code == 200
    html = _text(page)
    assert f'id="unit-{units[0].id}"' in html
    assert f'id="unit-{let.id}"' not in html  # only vacant units are offered
    resp = client.post_form(
        f"/staff/rounds/new?district={district.code}&programme=public_rental",
        {
            "title": "七星小区 2026 第一批",
            "programme": "public_rental",
            "method": "lottery",
            "groups": ["p1", "g"],
            "sector_share": "0",
            "choose_days": "3",
            "units": [str(units[0].id)],
        },
    )
    assert resp.status_code == 302, _text(resp)
    rnd = db.session.scalars(
        sa.select(AllocationRound).where(AllocationRound.title == "七星小区 2026 第一批")
    ).one()
    assert [ru.unit_id for ru in rnd.units] == [units[0].id]
    page = client.get(resp.headers["Location"])
    assert "Propose for approval" in _text(page)


def test_a_draft_without_units_is_refused_with_a_message(officer_client, district, estate):
    client, _ = officer_client
    UnitFactory(estate=estate)
    resp = client.post_form(
        f"/staff/rounds/new?district={district.code}",
        {
            "title": "空的",
            "programme": "public_rental",
            "method": "rank",
            "groups": ["g"],
            "sector_share": "0",
            "choose_days": "3",
        },
    )
    assert resp.status_code == 422
    assert "Choose at least one unit for the round." in _text(resp)


def test_another_districts_round_is_not_found(app, officer_client, db):
    client, _ = officer_client
    other = DistrictFactory()
    theirs = _draft(
        make_staff(Role.OFFICER, districts=[other]), other, [UnitFactory(district=other)]
    )
    assert client.get(f"/staff/rounds/{theirs.id}").status_code == 404
    assert client.post_form(f"/staff/rounds/{theirs.id}/propose").status_code == 404
    assert client.get(f"/staff/rounds/new?district={other.code}").status_code == 404
    assert theirs.reference not in _text(client.get("/staff/rounds/"))


def test_the_whole_way_through_the_pages(app, officer_client, district, estate, db):
    client, officer = officer_client
    for size in (1, 2, 2):
        waiting_entry(district, household_size=size)
    units = [UnitFactory(estate=estate, area=Decimal(a)) for a in ("33.00", "48.00")]
    rnd = _draft(officer, district, units)

    resp = client.post_form(f"/staff/rounds/{rnd.id}/propose")
    assert resp.status_code == 302
    for u in units:
        db.session.refresh(u)
    assert {u.status for u in units} == {UnitStatus.IN_ROUND}

    manager = make_staff(Role.MANAGER)
    boss = _client(app, manager)
    listing = _text(boss.get("/staff/rounds/approvals"))
    assert rnd.reference in listing
    assert client.get(f"/staff/rounds/{rnd.id}/decision").status_code == 403
    resp = boss.post_form(
        f"/staff/rounds/{rnd.id}/decision", {"decision": "approve", "note": "房源已核实"}
    )
    assert resp.status_code == 302, _text(resp)
    db.session.refresh(rnd)
    assert rnd.status is RoundStatus.APPROVED
    page = _text(client.get(f"/staff/rounds/{rnd.id}"))
    assert 'lang="en"' in page
    assert rnd.seed_hash in page
    assert "Draw the lottery" in page
    assert rnd.seed not in page  # secret until the draw

    resp = client.post_form(f"/staff/rounds/{rnd.id}/draw")
    assert resp.status_code == 302
    db.session.refresh(rnd)
    page = _text(client.get(f"/staff/rounds/{rnd.id}"))
    assert rnd.published_seed in page
    codes = [
        c
        for (c,) in db.session.execute(
            sa.select(RoundEntrant.code)
            .where(RoundEntrant.round_id == rnd.id)
            .order_by(RoundEntrant.position)
        )
    ]
    assert [m for m in re.findall(r"GL\d{10}", page) if m in codes] == codes
    assert "Assign the units in order" in page

    resp = client.post_form(f"/staff/rounds/{rnd.id}/allocate")
    assert resp.status_code == 302
    db.session.refresh(rnd)
    assert rnd.status is RoundStatus.CHOOSING
    history = _text(client.get(f"/staff/rounds/{rnd.id}"))
    for step in ("Drafted", "Proposed for approval", "Order drawn", "Units assigned in order"):
        assert step in history


def test_the_proposer_gets_a_409_with_the_four_eyes_message(app, district, estate, db):
    manager = make_staff(Role.MANAGER)
    rnd = _draft(manager, district, [UnitFactory(estate=estate)])
    services.propose(rnd, manager)
    waiting_entry(district, household_size=2)
    client = _client(app, manager)
    page = _text(client.get(f"/staff/rounds/{rnd.id}/decision"))
    assert "another manager must approve or reject it" in page
    resp = client.post_form(f"/staff/rounds/{rnd.id}/decision", {"decision": "approve"})
    assert resp.status_code == 409
    assert "another manager must decide on it (four-eyes rule)" in _text(resp)
    db.session.refresh(rnd)
    assert rnd.status is RoundStatus.PROPOSED


def test_a_rejection_needs_a_reason(app, officer_client, district, estate, db):
    _, officer = officer_client
    rnd = _draft(officer, district, [UnitFactory(estate=estate)])
    services.propose(rnd, officer)
    boss = _client(app, make_staff(Role.MANAGER))
    resp = boss.post_form(f"/staff/rounds/{rnd.id}/decision", {"decision": "reject"})
    assert resp.status_code == 422
    assert "Give the reason" in _text(resp)
    resp = boss.post_form(
        f"/staff/rounds/{rnd.id}/decision", {"decision": "reject", "note": "面积不符合标准"}
    )
    assert resp.status_code == 302
    db.session.refresh(rnd)
    assert rnd.status is RoundStatus.REJECTED


def test_cancel_needs_a_reason_and_frees_the_units(officer_client, district, estate, db):
    client, officer = officer_client
    unit = UnitFactory(estate=estate)
    rnd = _draft(officer, district, [unit])
    services.propose(rnd, officer)
    resp = client.post_form(f"/staff/rounds/{rnd.id}/cancel", {"reason": ""})
    assert resp.status_code == 422
    resp = client.post_form(f"/staff/rounds/{rnd.id}/cancel", {"reason": "房源需要维修"})
    assert resp.status_code == 302
    db.session.refresh(unit)
    assert unit.status is UnitStatus.VACANT


def test_residents_may_not_see_the_staff_pages(resident_client):
    assert resident_client.get("/staff/rounds/").status_code == 403


def test_the_entrants_table_pages_by_position(app, officer_client, district, estate, db):
    from portal.allocation import views

    client, officer = officer_client
    for _ in range(5):
        waiting_entry(district, household_size=2)
    rnd = _draft(officer, district, [UnitFactory(estate=estate)])
    services.propose(rnd, officer)
    services.approve(rnd, make_staff(Role.MANAGER))
    services.draw(rnd, officer)
    old, views.PAGE = views.PAGE, 2
    try:
        first = _text(client.get(f"/staff/rounds/{rnd.id}"))
        assert "from=3" in first
        third = _text(client.get(f"/staff/rounds/{rnd.id}?from=5"))
    finally:
        views.PAGE = old
    last = db.session.scalar(
        sa.select(RoundEntrant.code).where(
            RoundEntrant.round_id == rnd.id, RoundEntrant.position == 5
        )
    )
    assert last in third
    assert "Next page" not in third


def test_manager_sees_every_round_and_filters_by_state(app, officer_client, district, estate):
    _, officer = officer_client
    draft = _draft(officer, district, [UnitFactory(estate=estate)])
    proposed = _draft(officer, district, [UnitFactory(estate=estate)])
    services.propose(proposed, officer)
    DistrictFactory()  # the city has more than one district
    boss = _client(app, make_staff(Role.MANAGER))
    everything = _text(boss.get("/staff/rounds/"))
    assert draft.reference in everything
    assert proposed.reference in everything
    only = _text(boss.get("/staff/rounds/?status=proposed"))
    assert proposed.reference in only
    assert draft.reference not in only
    # a manager with the whole city first chooses the district
    first = _text(boss.get("/staff/rounds/new"))
    assert "Where are the units?" in first
    assert f'value="{district.code}"' in first


def test_a_draft_is_changed_on_its_edit_page(officer_client, district, estate, db):
    client, officer = officer_client
    a, b = UnitFactory(estate=estate), UnitFactory(estate=estate)
    rnd = _draft(officer, district, [a])
    page = _text(client.get(f"/staff/rounds/{rnd.id}/edit"))
    assert f'id="unit-{a.id}" checked' in page
    resp = client.post_form(
        f"/staff/rounds/{rnd.id}/edit",
        {
            "title": "改名后的批次",
            "programme": "public_rental",
            "method": "rank",
            "groups": ["p1"],
            "sector_share": "0",
            "choose_days": "5",
            "units": [str(b.id)],
        },
    )
    assert resp.status_code == 302, _text(resp)
    db.session.refresh(rnd)
    assert (rnd.title, rnd.method, rnd.choose_days) == ("改名后的批次", Method.RANK, 5)
    assert [ru.unit_id for ru in rnd.units] == [b.id]
    services.propose(rnd, officer)
    resp = client.get(f"/staff/rounds/{rnd.id}/edit")
    assert resp.status_code == 302  # no longer a draft

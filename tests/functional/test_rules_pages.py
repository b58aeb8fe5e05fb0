"""Managers keep the rule sets as versions with effective dates; decisions name the version."""

from datetime import timedelta

import time_machine

from portal.accounts.roles import Role
from portal.core.clock import today, utcnow
from portal.core.settings import current_version


def form_for(version, **changes):
    data = {k: str(v) for k, v in version.values.items()}
    data.update(effective_from=(today() + timedelta(days=1)).isoformat(), note="桂住建〔2027〕1号")
    data.update({k: str(v) for k, v in changes.items()})
    return data


def test_manager_adds_a_version_that_takes_effect_later(staff_client, db):
    client, _ = staff_client(Role.MANAGER)
    v1 = current_version("eligibility")
    resp = client.post_form("/manager/rules/eligibility", form_for(v1, income_line=1700))
    assert resp.status_code == 302
    assert current_version("eligibility").version == 1  # not yet in force
    with time_machine.travel(utcnow() + timedelta(days=2), tick=False):
        now = current_version("eligibility")
        assert now.version == 2
        assert now.values["income_line"] == 1700
    page = client.get("/manager/rules/eligibility").get_data(as_text=True)
    assert "桂住建〔2027〕1号" in page


def test_past_dates_and_bad_numbers_are_refused(staff_client):
    client, _ = staff_client(Role.MANAGER)
    v1 = current_version("eligibility")
    yesterday = (today() - timedelta(days=1)).isoformat()
    assert (
        client.post_form(
            "/manager/rules/eligibility", form_for(v1, effective_from=yesterday)
        ).status_code
        == 422
    )
    resp = client.post_form("/manager/rules/eligibility", form_for(v1, income_line="lots"))
    assert resp.status_code == 422
    assert 'aria-invalid="true"' in resp.get_data(as_text=True)
    resp = client.post_form("/manager/rules/eligibility", form_for(v1, spot_check_share="1.5"))
    assert resp.status_code == 422
    assert current_version("eligibility").version == 1


def test_only_managers_change_rules(staff_client):
    for role in (Role.OFFICER, Role.ADMIN, Role.AUDITOR):
        client, _ = staff_client(role)
        assert client.get("/manager/rules/eligibility").status_code == 403

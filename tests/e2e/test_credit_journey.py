"""A credit record in the browser: one manager flags a violation, the same manager cannot
confirm it, a second manager does; the resident reads it, objects, and is answered."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from portal.core.clock import today
from tests.e2e.helpers import sign_in

LIU_YANG = ("13807730004", "45031219990109315X", "刘洋")


def test_flag_confirm_object_and_answer(server, new_page):
    mobile, id_number, name = LIU_YANG
    flagger = new_page(locale="en")
    sign_in(flagger, server, "demo.manager", staff=True)
    flagger.goto(server["url"] + "/staff/credit/flag")
    flagger.get_by_label("ID number (persons)").fill(id_number)
    flagger.get_by_label("Name of the person or organisation").fill(name)
    flagger.get_by_label("Violation", exact=True).select_option("V-BREACH")
    flagger.get_by_label("Date of the violation").fill((today() - timedelta(days=3)).isoformat())
    flagger.get_by_label("Facts").fill("拒不配合年度入户检查，经两次书面通知仍未配合。")
    flagger.get_by_role("button", name="Flag the violation").click()
    heading = flagger.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Credit record CR")
    reference = re.search(r"CR\d+", heading.inner_text()).group(0)
    record_url = flagger.url
    # four eyes: the flagger's confirmation is refused
    flagger.get_by_role("button", name="Confirm: the record takes effect").click()
    expect(flagger.locator("main")).to_contain_text(re.compile("another manager|four", re.I))

    confirmer = new_page(locale="en")
    sign_in(confirmer, server, "demo.manager2", staff=True)
    confirmer.goto(record_url)
    confirmer.get_by_role("button", name="Confirm: the record takes effect").click()
    expect(confirmer.locator("main")).to_contain_text("In force")

    resident = new_page(locale="en", phone=True)
    sign_in(resident, server, mobile)
    resident.goto(server["url"] + "/my/credit")
    resident.get_by_role("link", name=reference).click()
    resident.get_by_label("Your reasons").fill("检查当天我在医院住院，有住院证明，并非拒不配合。")
    resident.get_by_role("button", name="Send the objection").click()
    expect(resident.locator("main")).to_contain_text("Objection being decided")

    confirmer.goto(server["url"] + "/staff/credit/appeals")
    confirmer.get_by_role("link", name=re.compile(f"Decide.*{reference}")).click()
    confirmer.get_by_label("Grant").check()
    confirmer.get_by_label("Reason given to the subject").fill("住院证明属实，记录撤销。")
    confirmer.get_by_role("button", name="Decide").click()

    resident.goto(server["url"] + f"/my/credit/{reference}")
    expect(resident.locator("main")).to_contain_text("Annulled after objection")

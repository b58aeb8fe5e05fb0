"""Journeys through the real pages, as a person would take them."""

import re

import pyotp
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in


def test_resident_registers_on_a_phone_in_chinese(server, new_page):
    page = new_page(locale="zh-CN", phone=True)
    page.goto(server["url"] + "/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    page.get_by_role("link", name="注册并申请").click()
    page.get_by_label("姓名（与身份证一致）").fill("覃小梅")
    page.get_by_label("身份证号码").fill("45030219880808002x")  # wrong check character
    page.get_by_label("手机号码").fill("13977300001")
    page.get_by_label("密码", exact=True).fill("lijiang-river-boat-trip")
    page.get_by_label("确认密码").fill("lijiang-river-boat-trip")
    page.get_by_label(re.compile("我已阅读隐私政策")).check()
    page.get_by_role("button", name="注册账号").click()
    expect(page.locator(".error-summary")).to_be_visible()
    # the typed values are kept; only the wrong field needs fixing
    expect(page.get_by_label("姓名（与身份证一致）")).to_have_value("覃小梅")
    from datetime import date

    from portal.core.identifiers import make_id_number

    good = make_id_number("450302", date(1988, 8, 8), 2)
    page.get_by_label("身份证号码").fill(good)
    page.get_by_label("密码", exact=True).fill("lijiang-river-boat-trip")
    page.get_by_label("确认密码").fill("lijiang-river-boat-trip")
    page.get_by_role("button", name="注册账号").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("覃小梅")
    masked = good[:4] + "*" * 10 + good[-4:]
    expect(page.locator("main")).to_contain_text(masked)
    assert good not in page.content()
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="登录")).to_be_visible()


def test_language_switch_and_large_text(server, new_page):
    page = new_page(locale="zh-CN")
    page.goto(server["url"] + "/privacy")
    page.get_by_role("button", name="English").click()
    expect(page).to_have_url(server["url"] + "/privacy")
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy notice")
    size_before = page.evaluate("getComputedStyle(document.documentElement).fontSize")
    page.get_by_role("button", name="Large text").click()
    expect(page.locator("html")).to_have_class("care")
    size_after = page.evaluate("getComputedStyle(document.documentElement).fontSize")
    assert float(size_after[:-2]) > float(size_before[:-2]) * 1.2
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()


def test_administrator_creates_an_officer_who_enrols(server, new_page):
    admin = new_page(locale="en")
    sign_in(admin, server, "demo.admin", staff=True)
    expect(admin.get_by_role("heading", level=1)).to_have_text("Workbench")
    admin.get_by_role("link", name="Create a staff account").first.click()
    admin.get_by_label("Role").select_option("officer")
    admin.get_by_label("Sign-in name").fill("huang.li")
    admin.get_by_label("Name", exact=True).fill("黄丽")
    admin.get_by_label("Xiufeng District").check()
    admin.get_by_role("button", name="Create").click()
    one_time = admin.locator("code.secret").inner_text()

    officer = new_page(locale="en", phone=True)
    officer.goto(server["url"] + "/login")
    officer.locator("#identifier").fill("huang.li")
    officer.locator("#password").fill(one_time)
    officer.get_by_role("button", name="Sign in").last.click()
    expect(officer.get_by_role("heading", level=1)).to_have_text("Set up your authenticator")
    secret = officer.locator("code.secret").inner_text()
    officer.locator("#code").fill(pyotp.TOTP(secret).now())
    officer.get_by_role("button", name="Confirm").click()
    expect(officer.get_by_role("heading", level=1)).to_have_text("Change password")
    officer.locator("#current").fill(one_time)
    officer.locator("#password").fill("Xiufeng-Housing-Desk-7")
    officer.locator("#confirm").fill("Xiufeng-Housing-Desk-7")
    officer.get_by_role("button", name="Change password").click()
    expect(officer.get_by_role("heading", level=1)).to_have_text("Workbench")
    expect(officer.locator("main")).to_contain_text("Xiufeng District")


def test_auditor_verifies_the_chain(server, new_page):
    page = new_page(locale="zh-CN")
    sign_in(page, server, "demo.auditor", staff=True)
    page.goto(server["url"] + "/audit")
    expect(page.locator("tbody tr").first).to_be_visible()
    page.get_by_role("link", name="校验审计链").first.click()
    expect(page.locator("[role=status]")).to_contain_text("审计链完整")

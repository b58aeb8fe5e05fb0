"""Locale: the user's setting, then the cookie, then Accept-Language; the switch on every page;
the large-text mode."""

import pytest
from flask_babel import force_locale, gettext

from tests.factories.fixtures import sign_in


def lang(resp) -> str:
    html = resp.get_data(as_text=True)
    return html[html.index("<html lang=") + 11 :].split('"')[1]


def test_chinese_is_the_default(client):
    assert lang(client.get("/")) == "zh-Hans"


def test_accept_language_english(client):
    assert lang(client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})) == "en"


def test_cookie_beats_accept_language(client):
    client.set_cookie("locale", "zh_Hans_CN", domain="portal.test")
    assert lang(client.get("/", headers={"Accept-Language": "en"})) == "zh-Hans"


def test_user_setting_beats_cookie(client, resident, db):
    resident.locale = "en"
    db.session.flush()
    client.set_cookie("locale", "zh_Hans_CN", domain="portal.test")
    sign_in(client, resident.mobile)
    assert lang(client.get("/me")) == "en"


def test_switch_on_every_page_returns_to_the_page(client):
    resp = client.post_form("/locale", {"locale": "en", "next": "/privacy"})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/privacy"
    page = client.get("/privacy")
    assert lang(page) == "en"
    assert "Privacy notice" in page.get_data(as_text=True)
    assert "/locale" in client.get("/login").get_data(as_text=True)


def test_switch_refuses_foreign_redirects(client):
    resp = client.post_form("/locale", {"locale": "en", "next": "//evil.example/"})
    assert resp.headers["Location"] == "/"


def test_signed_in_switch_is_remembered_on_the_account(resident_client, resident, db):
    resident_client.post_form("/locale", {"locale": "en", "next": "/me"})
    db.session.refresh(resident)
    assert resident.locale == "en"


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_pages_render_in_both_languages(client, locale):
    client.set_cookie("locale", locale, domain="portal.test")
    for page in ("/", "/login", "/register", "/privacy", "/no-such-page"):
        html = client.get(page).get_data(as_text=True)
        with force_locale(locale):
            assert gettext("Public Housing Service Portal") in html


def test_flash_and_error_messages_are_translated(client):
    resp = client.post_form("/login", {"identifier": "13000000000", "password": "x" * 12})
    with force_locale("zh_Hans_CN"):
        expected = gettext("The ID number, mobile number or password is not correct.")
    assert expected in resp.get_data(as_text=True)


def test_large_text_mode(client):
    assert 'class="care"' not in client.get("/").get_data(as_text=True)
    client.post_form("/care-mode", {"care_mode": "1", "next": "/"})
    html = client.get("/").get_data(as_text=True)
    assert 'class="care"' in html
    assert 'aria-pressed="true"' in html
    client.post_form("/care-mode", {"care_mode": "0", "next": "/"})
    assert 'class="care"' not in client.get("/").get_data(as_text=True)


def test_lazy_messages_carrying_typed_text_are_escaped(app):
    from flask import render_template_string

    from portal.core.i18n import lazy_gettext

    message = lazy_gettext(
        "“%(value)s” is not a valid value for %(label)s.", value="<b>x</b>", label="y"
    )
    html = render_template_string("<p>{{ m }}</p>", m=message)
    assert "<b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_the_portal_uses_only_the_escaping_lazy_gettext():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "portal"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "from flask_babel import lazy_gettext" in p.read_text(encoding="utf-8")
        or "flask_babel.lazy_gettext" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []

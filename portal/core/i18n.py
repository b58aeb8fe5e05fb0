"""Locale choice: the user's setting, then the ``locale`` cookie, then Accept-Language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_request_context, request
from flask_babel import force_locale, get_locale, gettext
from flask_babel.speaklater import LazyString
from flask_login import current_user
from markupsafe import escape

if TYPE_CHECKING:
    from portal.accounts.models import User


class LazyText(LazyString):
    """A lazily translated string that Jinja escapes like any other text.

    Flask-Babel's LazyString declares itself safe HTML, so a lazy message carrying what a
    person typed (``_l("“%(value)s” is not valid", value=...)``) would reach the page
    unescaped. Every ``_l`` in the portal is this class instead.
    """

    def __html__(self) -> str:
        return str(escape(str(self)))


def lazy_gettext(string: str, **variables) -> LazyText:
    """Translate when shown, in the reader's language (for strings made at import time)."""
    return LazyText(gettext, string, **variables)


LOCALE_COOKIE = "locale"
CARE_COOKIE = "care_mode"
LANGUAGE_NAMES = {"zh_Hans_CN": "中文", "en": "English"}
HTML_LANG = {"zh_Hans_CN": "zh-Hans", "en": "en"}


def _supported(value: str | None) -> str | None:
    return value if value in current_app.config["LANGUAGES"] else None


def select_locale() -> str:
    if not has_request_context():  # CLI and jobs speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and _supported(current_user.locale):
        return current_user.locale
    cookie = _supported(request.cookies.get(LOCALE_COOKIE))
    if cookie:
        return cookie
    # Accept-Language says zh-CN / zh-Hans / en-US; map languages onto our catalogues.
    best = request.accept_languages.best_match(["zh", "zh-CN", "zh-Hans", "en"])
    if best and best.startswith("en"):
        return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_locale() -> str:
    loc = get_locale()
    return "en" if loc is not None and loc.language == "en" else "zh_Hans_CN"


def locale_of(user: User | None) -> str:
    """The language ``user`` reads (their own setting), else the city's default."""
    return (user.locale if user is not None else None) or current_app.config["BABEL_DEFAULT_LOCALE"]


def in_locale_of(user: User | None, make: Callable[[], Any]) -> str:
    """``make()`` as text, made in ``user``'s language (the city's without a user): what a
    person is told, or what is stored for everyone (``user`` None), outside their request.

    ``make`` is called inside the language switch, so lazy and ``gettext`` texts built in it
    are translated for that reader."""
    with force_locale(locale_of(user)):
        return str(make())


def params_in_locale_of(user: User | None, make: Callable[[], Mapping[str, Any]]) -> dict[str, str]:
    """A message's values made in ``user``'s language, as stored text: ``make()`` gives them,
    a date becomes its ISO form (shown in the reader's format later), anything else ``str``."""
    with force_locale(locale_of(user)):
        return {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in make().items()}


def care_mode_on() -> bool:
    if current_user and current_user.is_authenticated:
        return bool(current_user.care_mode)
    return request.cookies.get(CARE_COOKIE) == "1"


def init_app(app: Flask) -> None:
    @app.context_processor
    def _i18n_context() -> dict:
        loc = current_locale()
        return {
            "current_locale": loc,
            "html_lang": HTML_LANG[loc],
            "language_names": LANGUAGE_NAMES,
            "care_mode": care_mode_on(),
        }

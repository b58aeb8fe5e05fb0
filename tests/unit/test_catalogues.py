"""Every string a person can read is in both catalogues (fails when one is missing)."""

from pathlib import Path

import pytest
from babel.messages.checkers import python_format
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "_l": None,
    "gettext": None,
    "lazy_gettext": None,
    "ngettext": (1, 2),
    "lazy_ngettext": (1, 2),
}
METHOD_MAP = [("portal/**.py", "python"), ("templates/**.html", "jinja2")]


def read_catalog(locale: str):
    path = ROOT / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def translated(message) -> bool:
    """Every form is filled in (a plural message has one string per form)."""
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(forms) and all(forms)


@pytest.fixture(scope="module")
def source_ids() -> set[str]:
    ids = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS, options_map={}
    ):
        ids.add(message[0] if isinstance(message, tuple) else message)
    assert len(ids) > 100
    return ids


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_catalogue_translates_every_string(locale, source_ids):
    catalog = read_catalog(locale)
    missing = sorted(i for i in source_ids if i not in catalog or not translated(catalog[i]))
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert missing == [], f"{locale} lacks {len(missing)} strings, e.g. {missing[:5]}"
    assert fuzzy == []
    for message in catalog:
        if message.id and message.python_format:
            python_format(catalog, message)  # raises when placeholders differ


def test_chinese_catalogue_is_really_chinese():
    catalog = read_catalog("zh_Hans_CN")
    same = [m.id for m in catalog if m.id and m.string == m.id and len(m.id) > 12]
    assert same == []

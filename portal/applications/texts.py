"""The texts a resident signs (承诺书, 委托授权书) and the privacy notice, with versions.

What was shown is hashed and the hash stored with the application, so it can be proved
later which words the person agreed to, in which language.
"""

from __future__ import annotations

import hashlib

from portal.core.i18n import lazy_gettext as _l

PLEDGE_VERSION = "pledge-2026.1"
AUTHORIZATION_VERSION = "authorization-2026.1"
PRIVACY_VERSION = "privacy-2026.1"

PLEDGE = [
    _l(
        "I declare that everything I and my household state in this application is true and "
        "complete."
    ),
    _l("I will report any change of income, household, housing or address within 30 days."),
    _l(
        "I understand that the portal checks my statements with other departments now and may check"
        " them again at any time, including at random after approval."
    ),
    _l(
        "I accept that a false statement cancels the qualification, that benefits received must be "
        "repaid, and that it is recorded as a serious violation in my credit record with a ban of "
        "up to five years."
    ),
]

AUTHORIZATION = [
    _l(
        "I, and each adult member of my household, authorise the housing security department to "
        "obtain our data from public security, civil affairs, the real estate registry, human "
        "resources and social security, the housing provident fund, market regulation, the vehicle "
        "registry and the disabled persons' federation."
    ),
    _l(
        "The data are used only to decide on and manage this housing assistance, and for no other "
        "purpose."
    ),
    _l(
        "This authorisation lasts while the application, the waiting period and any tenancy or "
        "subsidy last."
    ),
]


def signed_texts(locale: str) -> list[str]:
    """The exact texts shown to the resident, as rendered in their locale."""
    from flask_babel import force_locale

    with force_locale(locale):
        return [
            PLEDGE_VERSION,
            *[str(t) for t in PLEDGE],
            AUTHORIZATION_VERSION,
            *[str(t) for t in AUTHORIZATION],
            PRIVACY_VERSION,
        ]


def texts_hash(locale: str) -> str:
    return hashlib.sha256("\n".join(signed_texts(locale)).encode()).hexdigest()

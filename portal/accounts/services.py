"""Account services: every state change of an account goes through one of these functions.

They check their own rules, flush and never commit (DESIGN.md convention 1).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.accounts import hashing, throttle
from portal.accounts.models import ApiToken, District, User
from portal.accounts.passwords import password_problems
from portal.accounts.roles import Role
from portal.accounts.sessions import revoke_all
from portal.core import audit
from portal.core.clock import utcnow
from portal.core.crypto import protector
from portal.core.errors import (
    AuthenticationFailed,
    Conflict,
    DuplicateAccount,
    Forbidden,
    ValidationFailed,
)
from portal.core.i18n import lazy_gettext as _l
from portal.core.identifiers import (
    IdNumberError,
    birth_date_of,
    is_valid_mobile,
    normalize_id_number,
    normalize_mobile,
    parse_id_number,
)
from portal.extensions import db
from portal.verification.departments import Department

ID_NUMBER_MESSAGES = {
    "format": _l("An ID number has 17 digits followed by a digit or the letter X."),
    "birth_date": _l("The birth date inside this ID number is not a real date."),
    "checksum": _l("This ID number is not valid: please check each digit."),
}


def id_index(id_number: str) -> str:
    return protector().blind_index(id_number, "id_number")


def mobile_index(mobile: str) -> str:
    return protector().blind_index(mobile, "mobile")


def validated_id_number(raw: str, field: str = "id_number") -> str:
    """The normalised ID number, or :class:`ValidationFailed` with the precise reason."""
    try:
        return parse_id_number(raw)
    except IdNumberError as exc:
        raise ValidationFailed(ID_NUMBER_MESSAGES[exc.code], field=field) from exc


def validated_mobile(raw: str, field: str = "mobile") -> str:
    mobile = normalize_mobile(raw)
    if not is_valid_mobile(mobile):
        raise ValidationFailed(_l("A mobile number has 11 digits and starts with 1."), field=field)
    return mobile


def check_password_policy(password: str, user_like: dict, *, staff: bool) -> None:
    problems = password_problems(
        password,
        staff=staff,
        id_number=user_like.get("id_number"),
        mobile=user_like.get("mobile"),
        birth_date=user_like.get("birth_date"),
    )
    if problems:
        raise ValidationFailed(problems[0], field="password", problems=problems)


def find_by_identifier(raw: str) -> User | None:
    """The account an identifier names: ID number, mobile number or staff sign-in name."""
    value = raw.strip()
    if not value:
        return None
    normalized_id = normalize_id_number(value)
    if looks_like_id_number(normalized_id):
        clause = User.id_number_index == id_index(normalized_id)
    elif is_valid_mobile(normalize_mobile(value)):
        clause = User.mobile_index == mobile_index(normalize_mobile(value))
    else:
        clause = User.username == value.lower()
    return db.session.scalars(sa.select(User).where(clause)).one_or_none()


def resident_row(real_name: str, id_number: str, mobile: str, password_hash: str, **extra) -> User:
    """A resident account row with its blind indexes, from already validated values."""
    return User(
        role=Role.RESIDENT,
        real_name=real_name,
        id_number=id_number,
        id_number_index=id_index(id_number),
        birth_date=birth_date_of(id_number),
        mobile=mobile,
        mobile_index=mobile_index(mobile),
        password_hash=password_hash,
        **extra,
    )


def register_resident(
    *, real_name: str, id_number: str, mobile: str, password: str, locale: str | None = None
) -> User:
    """Create a resident account (self-registration with real name and ID number)."""
    real_name = " ".join(real_name.split())
    if not 2 <= len(real_name) <= 64:
        raise ValidationFailed(_l("Enter your name as on your ID card."), field="real_name")
    id_number = validated_id_number(id_number)
    mobile = validated_mobile(mobile)
    birth = birth_date_of(id_number)
    check_password_policy(
        password, {"id_number": id_number, "mobile": mobile, "birth_date": birth}, staff=False
    )
    exists = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(
            sa.or_(
                User.id_number_index == id_index(id_number),
                User.mobile_index == mobile_index(mobile),
            )
        )
    )
    if exists:
        raise DuplicateAccount(field="id_number")
    user = resident_row(
        real_name, id_number, mobile, hashing.hash_password(password), locale=locale
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError as exc:  # registered concurrently a moment ago
        raise DuplicateAccount(field="id_number") from exc
    audit.record("account.register", actor=user, obj=user)
    return user


def authenticate(identifier: str, password: str) -> User:
    """Check a sign-in. Unknown identifiers, wrong passwords and disabled accounts answer
    alike; locks are checked before any hashing (SECURITY.md A3)."""
    throttle.check_not_locked(identifier)
    user = find_by_identifier(identifier)
    ok, new_hash = hashing.check_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        throttle.record_failure(identifier)
        audit.record("auth.login", actor=user, result="failure", identifier_kind=_kind(identifier))
        raise AuthenticationFailed()
    throttle.clear(identifier)
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = utcnow()
    audit.record("auth.login", actor=user, obj=user, rehashed=bool(new_hash))
    return user


def looks_like_id_number(value: str) -> bool:
    """The shape of an ID number (17 digits and a digit or X), so that an 18-character staff
    sign-in name is never taken for one."""
    return len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X")


def _kind(identifier: str) -> str:
    if looks_like_id_number(normalize_id_number(identifier)):
        return "id_number"
    return "mobile" if is_valid_mobile(normalize_mobile(identifier)) else "username"


def change_password(user: User, current: str, new: str, *, current_session_id: int | None) -> None:
    """Change the password and end every other session of the account."""
    ok, _ = hashing.check_password(user.password_hash, current)
    if not ok:
        raise ValidationFailed(_l("The current password is not correct."), field="current")
    if current == new:
        raise ValidationFailed(_l("Choose a password you have not used here."), field="password")
    check_password_policy(
        new,
        {"id_number": user.id_number, "mobile": user.mobile, "birth_date": user.birth_date},
        staff=user.is_staff,
    )
    user.password_hash = hashing.hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    revoke_all(user, "password_changed", except_id=current_session_id)
    _revoke_tokens(user)
    audit.record("account.password_change", actor=user, obj=user)


def set_preferences(user: User, *, locale: str | None, care_mode: bool) -> None:
    user.locale = locale
    user.care_mode = care_mode
    db.session.flush()


def generate_one_time_password() -> str:
    """A random first password that meets the staff policy; it must be changed at sign-in."""
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(14)) + secrets.choice("!#%+-=?@")
        if (
            any(c.islower() for c in pw)
            and any(c.isupper() for c in pw)
            and any(c.isdigit() for c in pw)
        ):
            return pw


@dataclass
class NewStaff:
    user: User
    one_time_password: str


def create_staff(
    actor: User | None,
    *,
    role: Role,
    username: str,
    real_name: str,
    district_codes: list[str] | None = None,
    department: Department | None = None,
    mobile: str | None = None,
    email: str | None = None,
) -> NewStaff:
    """Create a staff account with a one-time password (administrator or the CLI only)."""
    if actor is not None and actor.role is not Role.ADMIN:
        raise Forbidden()
    if not role.is_staff:
        raise ValidationFailed(_l("Residents register themselves."), field="role")
    username = username.strip().lower()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise ValidationFailed(
            _l("Use letters, digits, dots, dashes or underscores for the sign-in name."),
            field="username",
        )
    if not real_name.strip():
        raise ValidationFailed(_l("Enter the person's name."), field="real_name")
    if role is Role.REVIEWER and department is None:
        raise ValidationFailed(_l("A department reviewer needs a department."), field="department")
    if role is not Role.REVIEWER:
        department = None
    districts: list[District] = []
    if role is Role.OFFICER:
        codes = district_codes or []
        districts = list(db.session.scalars(sa.select(District).where(District.code.in_(codes))))
        if not districts or len(districts) != len(set(codes)):
            raise ValidationFailed(
                _l("A housing officer needs at least one district."), field="districts"
            )
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise Conflict(_l("This sign-in name is taken."), field="username")
    mobile_value = validated_mobile(mobile) if mobile else None
    if mobile_value and db.session.scalar(
        sa.select(User.id).where(User.mobile_index == mobile_index(mobile_value))
    ):
        raise DuplicateAccount(field="mobile")
    password = generate_one_time_password()
    user = User(
        role=role,
        username=username,
        real_name=real_name.strip(),
        department=department,
        districts=districts,
        mobile=mobile_value,
        mobile_index=mobile_index(mobile_value) if mobile_value else None,
        email=email or None,
        password_hash=hashing.hash_password(password),
        must_change_password=True,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "account.create_staff",
        actor=actor or "cli",
        obj=user,
        role=role.value,
        districts=[d.code for d in districts],
        department=department.value if department else None,
    )
    return NewStaff(user, password)


def _require(actor: User, role: Role) -> None:
    if actor.role is not role:
        raise Forbidden()


def _revoke_tokens(user: User) -> None:
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


def set_active(actor: User, user: User, active: bool) -> None:
    """Disable (ending every session and token) or re-enable an account: administrator."""
    _require(actor, Role.ADMIN)
    if user.id == actor.id:
        raise Conflict(_l("You cannot disable your own account."))
    if user.is_active == active:
        return
    user.is_active = active
    user.disabled_at = None if active else utcnow()
    if not active:
        revoke_all(user, "disabled")
        _revoke_tokens(user)
    audit.record("account.enable" if active else "account.disable", actor=actor, obj=user)


def identifiers_of(user: User) -> list[str]:
    return [v for v in (user.id_number, user.mobile, user.username) if v]


def unlock(actor: User, user: User) -> int:
    """Lift sign-in locks on every identifier of the account: security officer."""
    _require(actor, Role.SECURITY)
    count = throttle.unlock_all_for(identifiers_of(user))
    audit.record("account.unlock", actor=actor, obj=user, locks=count)
    return count


def reset_second_factor(actor: User, user: User) -> None:
    """Make a staff member enrol a new authenticator at next sign-in: security officer."""
    _require(actor, Role.SECURITY)
    if not user.is_staff:
        raise Conflict(_l("Residents have no second factor to reset."))
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    revoke_all(user, "second_factor_reset")
    audit.record("account.totp_reset", actor=actor, obj=user)


def end_sessions(actor: User, user: User) -> int:
    """End every session and API token of an account: security officer."""
    _require(actor, Role.SECURITY)
    count = revoke_all(user, "ended_by_security")
    _revoke_tokens(user)
    audit.record("account.end_sessions", actor=actor, obj=user, sessions=count)
    return count


def reveal_id_number(actor: User, user: User, reason: str) -> str:
    """The whole ID number, for a role that needs it, with an audited reason (SECURITY.md D3)."""
    _require(actor, Role.SECURITY)
    reason = reason.strip()
    if len(reason) < 4:
        raise ValidationFailed(_l("Say why you need to see the whole number."), field="reason")
    audit.record("pii.reveal", actor=actor, obj=user, field="id_number", reason=reason[:200])
    return user.id_number or ""


def reset_password_at_counter(actor: User, user: User, reason: str) -> str:
    """The security officer gives a person who proved who they are a one-time password
    (at the housing office, ID card in hand); it must be changed at the next sign-in.
    Every session and token of the account ends, and its sign-in locks are lifted."""
    _require(actor, Role.SECURITY)
    if user.id == actor.id:
        raise Conflict(
            _l("You cannot reset your own password here; change it on your account page.")
        )
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise ValidationFailed(_l("Say how the person proved who they are."), field="reason")
    password = generate_one_time_password()
    user.password_hash = hashing.hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = True
    revoke_all(user, "password_reset")
    _revoke_tokens(user)
    throttle.unlock_all_for(identifiers_of(user))
    audit.record("account.password_reset_counter", actor=actor, obj=user, reason=reason[:200])
    return password

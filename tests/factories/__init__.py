"""factory_boy factories. They flush, never commit (the test's transaction is rolled back)."""

from __future__ import annotations

import functools
from datetime import date

import factory
import pyotp
from factory.alchemy import SQLAlchemyModelFactory

from portal.accounts import hashing
from portal.accounts.models import District, DistrictKind, User
from portal.accounts.roles import Role
from portal.accounts.services import id_index, mobile_index
from portal.core.clock import utcnow
from portal.core.identifiers import make_id_number
from portal.extensions import db

PASSWORD = "Osmanthus-Karst-River-2026"


@functools.cache
def _password_hash() -> str:
    # hashing costs ~20 ms; one hash serves every factory-made account
    return hashing.hash_password(PASSWORD)


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class DistrictFactory(Base):
    class Meta:
        model = District

    code = factory.Sequence(lambda n: f"9{n:05d}")
    name_zh = factory.Sequence(lambda n: f"测试区{n}")
    name_en = factory.Sequence(lambda n: f"Test District {n}")
    kind = DistrictKind.DISTRICT
    sort_order = factory.Sequence(int)


def _id_number(n: int) -> str:
    birth = date(1960 + n % 40, 1 + n % 12, 1 + n % 28)
    return make_id_number("450302", birth, n % 1000)


class ResidentFactory(Base):
    class Meta:
        model = User
        exclude = ("seq",)

    seq = factory.Sequence(int)
    role = Role.RESIDENT
    real_name = factory.Sequence(lambda n: f"居民{n}")
    id_number = factory.LazyAttribute(lambda o: _id_number(o.seq))
    id_number_index = factory.LazyAttribute(lambda o: id_index(o.id_number))
    birth_date = factory.LazyAttribute(
        lambda o: date(1960 + o.seq % 40, 1 + o.seq % 12, 1 + o.seq % 28)
    )
    mobile = factory.Sequence(lambda n: f"139{n:08d}")
    mobile_index = factory.LazyAttribute(lambda o: mobile_index(o.mobile))
    password_hash = factory.LazyFunction(_password_hash)


class StaffFactory(Base):
    """A staff member with an authenticator already set up (``totp_secret``)."""

    class Meta:
        model = User

    role = Role.OFFICER
    username = factory.Sequence(lambda n: f"staff{n}")
    real_name = factory.Sequence(lambda n: f"职员{n}")
    password_hash = factory.LazyFunction(_password_hash)
    totp_secret = factory.LazyFunction(pyotp.random_base32)
    totp_confirmed_at = factory.LazyFunction(utcnow)
    department = None

    @factory.post_generation
    def districts(self, create, extracted, **kwargs):
        if extracted is not None:
            self.districts = list(extracted)
        elif self.role is Role.OFFICER:
            self.districts = [DistrictFactory()]
        if create:
            db.session.flush()

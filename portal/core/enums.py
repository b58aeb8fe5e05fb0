"""Enums whose members carry a translated title, stored by value with a CHECK constraint."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa


class TitledEnum(StrEnum):
    """A string enum whose members have a ``label`` (a lazy translated title)."""

    def __new__(cls, value: str, label=None):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label if label is not None else value
        return obj


def enum_type(enum_cls: type[TitledEnum], name: str) -> sa.Enum:
    """A portable column type: VARCHAR plus a named CHECK constraint listing the values."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )

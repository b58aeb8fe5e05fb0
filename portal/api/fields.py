"""Fields the API's schemas share."""

from __future__ import annotations

from marshmallow import fields, validate

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # PostgreSQL's INTEGER, the type of every id column


class Int(fields.Integer):
    """An integer within the database's INTEGER range. A larger number in a request is
    refused with the other input errors (422), not passed on to fail in the database; the
    bounds appear in the OpenAPI document."""

    def __init__(self, *, validate_: object = None, **kwargs) -> None:
        given = kwargs.pop("validate", validate_)
        extra = list(given) if isinstance(given, list | tuple) else [given] if given else []
        super().__init__(validate=[validate.Range(min=INT_MIN, max=INT_MAX), *extra], **kwargs)

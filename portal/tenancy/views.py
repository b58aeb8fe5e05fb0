"""Officers: rent ledgers, payments, bank imports, arrears and exit cases."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tenancy", __name__, url_prefix="/staff/tenancy")

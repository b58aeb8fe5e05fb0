"""Officers and managers: subsidy awards, monthly runs, ledger and bank files."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("subsidy", __name__, url_prefix="/staff/subsidy")

"""Allocation rounds for officers and managers: propose, approve, draw, invite, counter."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rounds", __name__, url_prefix="/staff/rounds")

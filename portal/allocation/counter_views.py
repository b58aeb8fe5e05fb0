"""Choosing units at the counter: an officer records a household's choice, refusal or no-show."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("counter", __name__, url_prefix="/staff/rounds")

"""Residents: their rental subsidy."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("my_subsidy", __name__, url_prefix="/my/subsidy")

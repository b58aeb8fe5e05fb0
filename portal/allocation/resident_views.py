"""A household's invitation: choose a unit, refuse, see the lease."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("choose", __name__, url_prefix="/my/rounds")

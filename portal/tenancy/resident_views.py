"""Residents: their lease, rent and exit case."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("my_home", __name__, url_prefix="/my/home")

"""Public pages of allocation rounds: published inputs, results and the lottery's verification."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("lottery", __name__, url_prefix="/rounds")

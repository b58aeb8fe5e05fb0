"""Officers: annual reviews, reported changes and renewals."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reviews", __name__, url_prefix="/staff/reviews")

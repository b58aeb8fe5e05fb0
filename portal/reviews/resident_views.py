"""Residents: their annual review, reported changes and renewal."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("my_reviews", __name__, url_prefix="/my/reviews")

"""The waiting list: a household's position, officers' queue listing, rotation."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("waitlist", __name__)

"""Housing stock pages for officers and managers: estates, buildings, units, imports, vacancies."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("housing", __name__, url_prefix="/staff/housing")

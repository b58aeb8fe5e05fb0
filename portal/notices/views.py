"""Public notices and objections (public pages, and the officers' side)."""

from flask import Blueprint

bp = Blueprint("notices", __name__)

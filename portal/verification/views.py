"""Department reviewers' pages: their department's checks, confirm, correct, ask."""

from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")

"""Housing officers' pages: work queue, the whole file, decisions, spot checks."""

from flask import Blueprint

bp = Blueprint("officer", __name__, url_prefix="/officer")

"""A person's messages."""

from flask import Blueprint

bp = Blueprint("notifications", __name__)

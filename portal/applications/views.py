"""Resident pages: apply, household, sign, status, documents, second review."""

from flask import Blueprint

bp = Blueprint("applications", __name__)

"""JSON API of this module (flask-smorest); the same services as the pages."""

from __future__ import annotations

blueprints: list = []

"""JSON API of this domain (flask-smorest); the same services as the pages."""

from __future__ import annotations

blueprints: list = []

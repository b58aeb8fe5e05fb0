"""JSON API for invited households: invitations, choosing a unit, refusing, the lease."""

from __future__ import annotations

blueprints: list = []

"""Working days (工作日) for statutory deadlines: Monday to Friday, minus configured public
holidays, plus configured make-up working days (调休)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, has_app_context


def _sets() -> tuple[frozenset[date], frozenset[date]]:
    if not has_app_context():
        return frozenset(), frozenset()
    cfg = current_app.config
    return frozenset(cfg.get("PUBLIC_HOLIDAYS", ())), frozenset(cfg.get("MAKEUP_WORKDAYS", ()))


def is_working_day(day: date) -> bool:
    holidays, makeup = _sets()
    if day in makeup:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count

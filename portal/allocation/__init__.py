"""Allocation rounds (配租批次): entrants, lottery, choosing a unit (选房)."""

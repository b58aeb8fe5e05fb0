"""Subsidy rules (RULES.md "Rental subsidy"): the versioned ``subsidy`` rule set and the pure
computation of one household's monthly amount, with the components a resident reads.

``subsidy = rate[tier] × max(0, area_standard(n) − own_area) × coefficient``, capped at the
actual rent; or, with ``mode_table`` set, a fixed amount by household size, capped likewise.
"""

from __future__ import annotations

DEFAULTS = {
    "mode_table": 0,  # 1: a fixed amount by household size (Beijing-style) instead of tiers
    "rate_assistance": 20,  # yuan per m² a month: 低保 / 特困 households
    "tier1_income": 1693,  # per-capita monthly income up to this …
    "rate_tier1": 18,  # … this rate
    "tier2_income": 2540,
    "rate_tier2": 16,
    "rate_above": 14,
    "area_one_person": 20,  # area standard, m²
    "area_per_person": 15,
    "area_cap": 60,
    "coefficient": 1.0,
    "coefficient_veteran": 1.5,  # 优抚对象
    "table_1": 300,  # fixed table: yuan a month for 1, 2, 3, 4, 5 or more persons
    "table_2": 450,
    "table_3": 600,
    "table_4": 700,
    "table_5": 800,
    "valid_months": 12,  # an award is valid a year, then reviewed
    "review_days_before": 30,
    "tenant_offset_assistance_only": 1,  # in a public rental unit only assistance households
}

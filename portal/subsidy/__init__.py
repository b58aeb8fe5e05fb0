"""Rental subsidies (租赁补贴): awards, monthly runs, the payment ledger and recoveries."""

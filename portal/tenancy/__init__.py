"""Leases and tenancies."""

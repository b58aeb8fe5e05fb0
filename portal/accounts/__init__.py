"""Accounts: residents, staff roles, sign-in, sessions, second factor, API tokens."""

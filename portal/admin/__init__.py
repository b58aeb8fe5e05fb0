"""Accounts administration (administrator), security actions (security officer) and the
audit log (auditor): three separated roles, none with another's powers (三权分立)."""

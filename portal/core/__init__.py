"""Shared foundations: database base and types, errors, security, i18n, audit."""

"""The client's address, as seen through the configured proxies (ProxyFix)."""

from flask import request


def client_address() -> str:
    """The address rate limits and audit events are keyed on."""
    return request.remote_addr or "unknown"

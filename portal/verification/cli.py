"""``flask portal registry ...``: the embedded registry of department data."""

import click


@click.group("registry")
def registry_cli() -> None:
    """Department data kept by the portal (embedded backend)."""

"""``flask portal lottery verify``: re-check a drawn round, from the database's published data
or from a downloaded ``results.json`` (no database needed). Exit status 1 on any mismatch."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext


@click.group("lottery")
def lottery_cli() -> None:
    """The verifiable lottery of allocation rounds."""


def _print(checks) -> bool:
    for c in checks:
        mark = "ok  " if c.passed else "FAIL"
        click.echo(f"[{mark}] {c.name}: expected {c.expected}, found {c.actual}")
    return bool(checks) and all(c.passed for c in checks)


def verify_document(doc: dict):
    """The checks of a ``results.json`` document."""
    from portal.allocation import lottery

    return lottery.verify(
        doc["seed"],
        doc["seed_hash"],
        [(e["code"], bool(e.get("sector"))) for e in doc["entrants"]],
        doc["entrants_hash"],
        doc["results"],
        int(doc["quota_count"]),
    )


@lottery_cli.command("verify")
@click.argument("reference", required=False)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="a downloaded results.json instead of the database",
)
@with_appcontext
def verify_command(reference: str | None, path: str | None) -> None:
    """Re-run a round's lottery from its published data and print each check."""
    if bool(reference) == bool(path):
        raise click.UsageError("give a round's reference or --file results.json, not both")
    if path:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if not doc.get("seed"):
            raise click.ClickException("the file holds no revealed seed: the order is not drawn")
        ok = _print(verify_document(doc))
    else:
        ok = _verify_reference(reference)
    click.echo("verified: the order follows from the published data" if ok else "MISMATCH")
    if not ok:
        sys.exit(1)


def _verify_reference(reference: str) -> bool:
    from portal.allocation import services
    from portal.allocation.models import Method

    rnd = services.published_round(reference)
    if rnd is None:
        raise click.ClickException(f"no published round {reference}")
    if rnd.method is not Method.LOTTERY:
        raise click.ClickException(f"{reference} is ordered by queue rank, not by lottery")
    if not rnd.published_seed:
        raise click.ClickException(f"the lottery of {reference} has not been drawn yet")
    click.echo(f"{rnd.reference}: {rnd.entrant_count} households")
    return _print(services.verification(rnd))

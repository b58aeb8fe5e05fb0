"""``flask portal housing ...``: the housing stock from the command line."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext


@click.group("housing")
def housing_cli() -> None:
    """Housing stock (房源): estates, buildings and units."""


@housing_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_command(path: Path) -> None:
    """Import units from a CSV or XLSX file (docs/housing-import.md). All or nothing: if
    any row is wrong, nothing is written and each problem is printed."""
    from portal.core.errors import PortalError
    from portal.extensions import db
    from portal.housing.imports import import_units

    try:
        with path.open("rb") as fh:
            result = import_units(fh, path.name, "cli:housing-import")
    except PortalError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    if not result.ok:
        db.session.commit()  # the audit event of the rejected import
        for e in result.errors:
            where = f"row {e.row}" + (f", {e.column}" if e.column else "")
            click.echo(f"{where}: {e.message}", err=True)
        raise click.ClickException(f"{len(result.errors)} problems; nothing was imported")
    db.session.commit()
    click.echo(
        f"{result.rows} rows: {result.created} units created, {result.updated} updated, "
        f"{result.unchanged} unchanged; {result.estates_created} estates and "
        f"{result.buildings_created} buildings created"
    )


@housing_cli.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demonstration estates of Guilin (idempotent)."""
    from portal.cli import transactional
    from portal.housing.demo import load_demo_housing

    created = transactional(load_demo_housing)()
    click.echo(f"{created} demonstration units created")

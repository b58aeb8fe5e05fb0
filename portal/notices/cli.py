"""``flask portal notices ...``: scheduled work on public notices."""

import click
from flask.cli import with_appcontext


@click.group("notices")
def notices_cli() -> None:
    """Public notices (公示)."""


@notices_cli.command("close-due")
@with_appcontext
def close_due_command() -> None:
    """Close notices past their end with no objection open; their households qualify."""
    from portal.cli import transactional
    from portal.jobs.tasks import close_due_notices

    count = transactional(close_due_notices)()["qualified"]
    click.echo(f"qualified {count} households")

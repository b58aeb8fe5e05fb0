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
    from portal.notices.services import close_notice, due_notices

    def close_all() -> int:
        return sum(len(close_notice(None, n)) for n in due_notices())

    count = transactional(close_all)()
    click.echo(f"qualified {count} households")

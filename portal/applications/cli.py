"""``flask portal applications ...``: scheduled work on applications."""

import click
from flask.cli import with_appcontext


@click.group("applications")
def applications_cli() -> None:
    """Applications: deadlines that pass without anyone's hand."""


@applications_cli.command("expire-due")
@with_appcontext
def expire_due_command() -> None:
    """Expire document requests whose deadline has passed (run daily)."""
    from portal.applications.services import expire_overdue_supplements
    from portal.cli import transactional

    count = transactional(expire_overdue_supplements)()
    click.echo(f"expired {count} document requests")

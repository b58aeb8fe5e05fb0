"""``flask portal outbox ...``: deliver e-mails and text messages."""

import click
from flask.cli import with_appcontext


@click.group("outbox")
def outbox_cli() -> None:
    """The outbox of e-mails and text messages."""


@outbox_cli.command("deliver")
@click.option("--limit", default=500, show_default=True)
@with_appcontext
def deliver_command(limit: int) -> None:
    """Send what is due (run it every minute from cron or the job scheduler)."""
    from portal.cli import transactional
    from portal.notifications.services import deliver_outbox

    sent, failed = transactional(deliver_outbox)(limit=limit)
    click.echo(f"sent {sent}, failed {failed}")

"""``flask portal ...``: operators' commands. Each command is one transaction."""

from __future__ import annotations

import functools
import sys

import click
from flask.cli import with_appcontext

from portal.extensions import db


def transactional(fn):
    """Commit once when the command succeeds; roll back on any error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            raise

    return wrapper


@click.group("portal")
def portal_cli() -> None:
    """Housing portal administration."""


def _add_domain_commands() -> None:
    from portal.allocation.cli import lottery_cli
    from portal.applications.cli import applications_cli
    from portal.housing.cli import housing_cli
    from portal.jobs.cli import jobs_cli
    from portal.notices.cli import notices_cli
    from portal.notifications.cli import outbox_cli
    from portal.verification.cli import registry_cli

    portal_cli.add_command(registry_cli)
    portal_cli.add_command(outbox_cli)
    portal_cli.add_command(applications_cli)
    portal_cli.add_command(notices_cli)
    portal_cli.add_command(jobs_cli)
    portal_cli.add_command(lottery_cli)
    portal_cli.add_command(housing_cli)


_add_domain_commands()


@portal_cli.command("create-staff")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["officer", "reviewer", "manager", "admin", "security", "auditor"]),
)
@click.option("--username", required=True)
@click.option("--name", "real_name", required=True)
@click.option("--district", "districts", multiple=True, help="district code (officers)")
@click.option("--department", default=None, help="department code (reviewers)")
@click.option("--mobile", default=None)
@with_appcontext
@transactional
def create_staff_command(role, username, real_name, districts, department, mobile) -> None:
    """Create a staff account; prints a one-time password to change at first sign-in."""
    from portal.accounts.roles import Role
    from portal.accounts.services import create_staff
    from portal.core.errors import PortalError
    from portal.verification.departments import Department

    try:
        new = create_staff(
            None,
            role=Role(role),
            username=username,
            real_name=real_name,
            district_codes=list(districts),
            department=Department(department) if department else None,
            mobile=mobile,
        )
    except (PortalError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {new.user.username} ({role})")
    click.echo(f"one-time password: {new.one_time_password}")
    click.echo("The password must be changed, and an authenticator set up, at first sign-in.")


@portal_cli.command("create-client")
@click.option("--name", required=True, help="partner agency's name")
@click.option("--credit-code", required=True, help="unified social credit code")
@click.option("--scope", "scopes", multiple=True, help="granted scope (repeatable)")
@with_appcontext
@transactional
def create_client_command(name, credit_code, scopes) -> None:
    """Register a partner agency's API client; prints its id and secret once."""
    from portal.api.auth import create_client
    from portal.core.errors import PortalError

    try:
        new = create_client(None, name=name, credit_code=credit_code, scopes=list(scopes))
    except PortalError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"client_id: {new.client.client_id}")
    click.echo(f"client_secret: {new.secret}")


@portal_cli.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@with_appcontext
def audit_verify_command() -> None:
    """Check the hash chain; exit 1 and name the first altered row if it is broken."""
    from portal.core.audit import verify

    result = verify()
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} events")
        return
    click.echo(
        f"audit chain broken at event {result.first_bad_id} ({result.reason}); "
        f"{result.checked} events before it are intact",
        err=True,
    )
    sys.exit(1)


@portal_cli.command("demo")
@with_appcontext
@transactional
def demo_command() -> None:
    """Load the demo city (districts, one account per staff role, residents), idempotently,
    and print the demo accounts."""
    from flask import current_app

    from portal.demo import load_demo

    for line in load_demo(current_app.instance_path):
        click.echo(line)


@portal_cli.command("demo-code")
@click.argument("username")
@with_appcontext
def demo_code_command(username: str) -> None:
    """Print the current authenticator code of a demo staff account (demo accounts only)."""
    import pyotp
    import sqlalchemy as sa

    from portal.accounts.models import User

    user = db.session.scalars(sa.select(User).where(User.username == username.lower())).first()
    if user is None or not user.is_demo or not user.totp_secret:
        raise click.ClickException("not a demo staff account")
    click.echo(pyotp.TOTP(user.totp_secret).now())


def _add_backup_commands() -> None:
    """``flask portal backup`` and ``flask portal restore`` (SECURITY.md F3, docs/backup.md)."""
    from portal.backup import backup_command, restore_command

    portal_cli.add_command(backup_command)
    portal_cli.add_command(restore_command)


_add_backup_commands()

"""``flask portal jobs ...``: see, run and schedule background jobs."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext


@click.group("jobs")
def jobs_cli() -> None:
    """Background jobs (docs/jobs.md)."""


@jobs_cli.command("list")
@with_appcontext
def list_command() -> None:
    """Every job: its schedule, and the last run of a periodic job."""
    from portal.core.clock import CITY_TZ
    from portal.jobs.core import jobs, last_run

    rows = [("job", "schedule", "last period", "status", "started", "attempts")]
    for job in sorted(jobs().values(), key=lambda j: j.name):
        when = job.schedule.describe() if job.schedule else "on demand"
        run = last_run(job.name) if job.period else None
        if run is None:
            rows.append((job.name, when, "-", "-", "-", "-"))
            continue
        started = run.started_at.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M")
        status = run.status.value + (f" ({run.error})" if run.error else "")
        rows.append((job.name, when, run.period_key, status, started, str(run.attempts)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[5])


def _parse_kw(pairs: tuple[str, ...]) -> dict:
    kwargs = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: use key=value", param_hint="--kw")
        try:
            kwargs[key] = json.loads(raw)  # 12 is a number, "12" or 12a a string
        except ValueError:
            kwargs[key] = raw
    return kwargs


@jobs_cli.command("run")
@click.argument("name")
@click.option("--kw", "pairs", multiple=True, help="argument as key=value (repeatable)")
@click.option("--period", default=None, help="the period to run, e.g. 2026-11 (periodic jobs)")
@click.option("--enqueue", "to_queue", is_flag=True, help="send it to the workers instead")
@with_appcontext
def run_command(name: str, pairs: tuple[str, ...], period: str | None, to_queue: bool) -> None:
    """Run one job now, in this process. A periodic job still runs once per period: it is
    skipped when its period has run, and a failed period is taken again."""
    from portal.extensions import db
    from portal.jobs.core import enqueue, execute, jobs, runs_async

    if name not in jobs():
        raise click.ClickException(f"no job named {name!r} (see: flask portal jobs list)")
    kwargs = _parse_kw(pairs)
    if to_queue:
        if not runs_async():
            raise click.ClickException("no workers: PORTAL_REDIS_URL is not set")
        if period:
            kwargs["_period"] = period
        enqueue(name, **kwargs)
        db.session.commit()
        click.echo(f"{name} sent to the workers")
        return
    try:
        outcome = execute(name, kwargs, period=period, force=True)
    except Exception as exc:
        raise click.ClickException(f"{name} failed: {type(exc).__name__}: {exc}") from exc
    click.echo(str(outcome))


@jobs_cli.command("run-due")
@with_appcontext
def run_due_command() -> None:
    """Run the scheduled jobs that are due and have not run in their period. For a single
    machine without Redis: run it from cron every minute. Exits 1 if a job failed."""
    from portal.jobs.core import run_due

    outcomes = run_due()
    for outcome in outcomes:
        if outcome.status != "skipped":
            click.echo(str(outcome), err=outcome.status == "failed")
    if any(o.status == "failed" for o in outcomes):
        sys.exit(1)

"""``flask portal registry ...``: the embedded registry of department data."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.verification.departments import Department

SHOWN_PROBLEMS = 20


@click.group("registry")
def registry_cli() -> None:
    """Department data kept by the portal (embedded backend)."""


def _import(files: list[tuple[Department, Path]], replace: bool) -> None:
    """One transaction: committed when every file is good, rolled back otherwise."""
    from portal.cli import transactional  # imported here: portal.cli imports this module

    transactional(_import_files)(files, replace)


def _import_files(files: list[tuple[Department, Path]], replace: bool) -> None:
    from portal.verification.registry import RegistryImportError, import_files

    try:
        results = import_files(files, replace=replace, actor="cli")
    except RegistryImportError as exc:
        for problem in exc.problems[:SHOWN_PROBLEMS]:
            click.echo(str(problem), err=True)
        if exc.total > SHOWN_PROBLEMS:
            click.echo(f"... and {exc.total - SHOWN_PROBLEMS} more problem(s)", err=True)
        raise click.ClickException(f"{exc.total} problem(s) found; nothing was imported.") from exc
    for r in results:
        line = f"{r.department.value}: {r.rows} rows from {r.file} ({r.added} added, "
        line += f"{r.updated} updated"
        line += f", {r.removed} removed)" if replace else ")"
        click.echo(line)


@registry_cli.command("import")
@click.argument("department", type=click.Choice([d.value for d in Department]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Make the file the department's whole registry: remove people not in it.",
)
@with_appcontext
def import_command(department: str, file: Path, replace: bool) -> None:
    """Import one department's CSV file (header: id_number and the department's facts).

    Every row is checked first; if any row is bad, nothing is imported and the command
    exits 1 naming the lines.
    """
    _import([(Department(department), file)], replace)


@registry_cli.command("import-dir")
@click.argument(
    "folder", type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path)
)
@click.option("--replace", is_flag=True, help="Each file becomes its department's whole registry.")
@with_appcontext
def import_dir_command(folder: Path, replace: bool) -> None:
    """Import every ``<department>.csv`` of FOLDER, all files or none."""
    from portal.verification.registry import folder_files

    files, strays = folder_files(folder)
    if strays:
        names = ", ".join(d.value for d in Department)
        for name in strays:
            click.echo(f"{name}: not named after a department ({names})", err=True)
        raise click.ClickException("unexpected CSV files; nothing was imported.")
    if not files:
        raise click.ClickException(f"no <department>.csv files in {folder}")
    _import(files, replace)


@registry_cli.command("stats")
@with_appcontext
def stats_command() -> None:
    """How many people each department's registry knows, and its last import."""
    from portal.verification.registry import stats

    rows = stats()
    click.echo(f"{'department':<20} {'people':>8}  last import")
    for s in rows:
        when = s.last_import.strftime("%Y-%m-%d %H:%M UTC") if s.last_import else "never"
        source = f"  ({s.last_file})" if s.last_file else ""
        click.echo(f"{s.department.value:<20} {s.records:>8}  {when}{source}")
    click.echo(f"{'total':<20} {sum(s.records for s in rows):>8}")

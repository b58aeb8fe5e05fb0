"""Managers' pages: yearly targets, construction projects and their monthly progress, the
ledgers (台账) to download."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import show_error
from portal.core.i18n import current_locale
from portal.core.web import discard_failed_work
from portal.exports.models import Export
from portal.extensions import db
from portal.reports import ledgers as ledger_svc
from portal.reports import projects as svc
from portal.reports import targets as target_svc
from portal.reports.forms import (
    LedgerForm,
    ProgressForm,
    ProjectFilterForm,
    ProjectForm,
    TargetsForm,
    YearForm,
)
from portal.reports.models import Project, ProjectKind, TargetKind

bp = Blueprint("reports", __name__, url_prefix="/manager")

MILESTONE_BLANKS = 3  # empty deadline rows offered under those kept
MILESTONE_ROWS_MAX = 60


def _actor() -> User:
    return current_user._get_current_object()


def _year(text: str | None) -> int:
    """The year asked for, this year when none or not a year."""
    try:
        return target_svc.check_year(text)
    except PortalError:
        return today().year


def month_names() -> dict[int, str]:
    """Month number → its name in the reader's language."""
    return {m: format_date(date(2000, m, 1), "MMMM") for m in range(1, 13)}


# --- targets -------------------------------------------------------------------------------


@bp.get("/targets")
@allow(Role.MANAGER)
def targets():
    """The year's task table (computed subtotals and total) and its deadlines."""
    form = YearForm(request.args)
    year = _year(form.year.data)
    form.year.data = str(year)
    table = target_svc.targets_table(year, current_locale())
    total = table.rows[0].values
    due = {  # the units due by each deadline, none when the task has no target
        (m.kind, m.by_month): None
        if total.get(m.kind.value) is None
        else total[m.kind.value] * m.share_percent // 100
        for m in table.milestones
    }
    return render_template(
        "reports/targets.html",
        form=form,
        table=table,
        groups=target_svc.column_groups(),
        months=month_names(),
        due=due,
        year=year,
    )


def _milestone_rows(form) -> tuple[list[dict], dict[str, str], list]:
    """The deadline rows as typed, an error per bad input, and the rows read."""
    try:
        count = min(int(form.get("milestone_rows", 0)), MILESTONE_ROWS_MAX)
    except ValueError:
        count = 0
    raw, errors, rows = [], {}, []
    for i in range(count):
        prefix = f"m-{i}-"
        typed = {k: (form.get(prefix + k) or "").strip() for k in ("kind", "month", "share")}
        raw.append(typed)
        try:
            found = target_svc.parse_milestone_row(
                typed["kind"], typed["month"], typed["share"], prefix=prefix
            )
        except PortalError as exc:
            errors[exc.field] = str(exc)
            continue
        if found is not None:
            rows.append(found)
    return raw, errors, rows


def _edit_page(year, table, grid, milestone_raw, milestone_errors, general, status=200):
    labels = {}
    for row in table.rows:
        if not row.computed:
            for c in target_svc.STORED_COLUMNS:
                labels[target_svc.cell_name(row.key, c.kinds[0])] = f"{row.label}: {c.full_title}"
    return render_template(
        "reports/edit_targets.html",
        year=year,
        table=table,
        grid=grid,
        labels=labels,
        columns=target_svc.STORED_COLUMNS,
        groups=target_svc.column_groups(target_svc.STORED_COLUMNS),
        cell_name=target_svc.cell_name,
        milestones=milestone_raw,
        milestone_errors=milestone_errors,
        general=general,
        kinds=list(TargetKind),
        months=month_names(),
        form=TargetsForm(formdata=None),
    ), status


@bp.route("/targets/<int:year>", methods=["GET", "POST"])
@allow(Role.MANAGER)
def edit_targets(year: int):
    """The year's cells (blank: no target) and deadlines, saved together: everything or
    nothing, every bad cell shown with what was typed."""
    if not target_svc.YEAR_MIN <= year <= target_svc.YEAR_MAX:
        abort(404)
    table = target_svc.targets_table(year, current_locale())
    if request.method == "GET":
        raw = [
            {"kind": m.kind.value, "month": str(m.by_month), "share": str(m.share_percent)}
            for m in table.milestones
        ]
        raw += [{"kind": "", "month": "", "share": ""} for _ in range(MILESTONE_BLANKS)]
        return _edit_page(year, table, target_svc.grid_of(table), raw, {}, None)
    if not TargetsForm().validate_on_submit():
        abort(400)
    grid = target_svc.read_grid(request.form, table.rows)
    raw, errors, rows = _milestone_rows(request.form)
    raw += [{"kind": "", "month": "", "share": ""} for _ in range(1)]
    general = None
    if not grid.errors and not errors:
        try:
            changed = target_svc.set_targets(year, grid.cells, _actor())
            target_svc.set_milestones(year, rows, _actor())
        except PortalError as exc:
            discard_failed_work(exc)
            general = str(exc)
        else:
            flash(
                _(
                    "The %(year)d targets are saved: %(added)d cells added, %(changed)d "
                    "changed, %(removed)d removed.",
                    year=year,
                    **changed,
                ),
                "success",
            )
            return redirect(url_for("reports.targets", year=year))
    return _edit_page(year, table, grid, raw, errors, general, 422)


# --- projects ------------------------------------------------------------------------------


def _district_choices(blank=None) -> list[tuple[str, str]]:
    loc = current_locale()
    found = [(str(d.id), d.name(loc)) for d in target_svc.districts()]
    return [("", blank), *found] if blank is not None else found


@bp.get("/projects")
@allow(Role.MANAGER)
def projects():
    """The year's projects, by district; those past their start deadline flagged."""
    form = ProjectFilterForm(request.args)
    form.district.choices = _district_choices(_("All"))
    form.validate()
    year = _year(form.year.data)
    form.year.data = str(year)
    district_id = int(form.district.data) if (form.district.data or "").isdigit() else None
    kind = form.kind.data if form.kind.data in {k.value for k in ProjectKind} else None
    rows = svc.find_projects(
        svc.ProjectFilter(
            year=year,
            district_id=district_id,
            kind=ProjectKind(kind) if kind else None,
            late_only=form.late.data == "1",
        )
    )
    return render_template(
        "reports/projects.html",
        form=form,
        year=year,
        rows=rows,
        latest=svc.latest_of([p.id for p in rows]),
        late=svc.is_late_to_start,
        today=today(),
    )


def _load(project_id: int) -> Project:
    return db.get_or_404(Project, project_id)


@bp.route("/projects/new", methods=["GET", "POST"])
@allow(Role.MANAGER)
def new_project():
    """A new project of a year's plan."""
    form = ProjectForm()
    form.district_id.choices = _district_choices()
    if request.method == "GET":
        form.year.data = request.args.get("year") or str(today().year)
    if form.validate_on_submit():
        try:
            project = svc.create_project(_actor(), **form.values())
        except PortalError as exc:
            show_error(form, exc)
        else:
            flash(_("The project is added."), "success")
            return redirect(url_for("reports.project", project_id=project.id))
    status = 422 if form.is_submitted() else 200
    return render_template("reports/project_form.html", form=form, project=None), status


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@allow(Role.MANAGER)
def edit_project(project_id: int):
    """Change a project's facts."""
    project = _load(project_id)
    form = ProjectForm(obj=project) if request.method == "GET" else ProjectForm()
    form.district_id.choices = _district_choices()
    if request.method == "GET":
        form.district_id.data = str(project.district_id)
        form.kind.data = project.kind.value
        form.year.data = str(project.year)
        form.units.data = str(project.units)
        for name in ("floor_area", "investment"):
            value = getattr(project, name)
            getattr(form, name).data = "" if value is None else str(value)
    if form.validate_on_submit():
        try:
            svc.update_project(project, _actor(), **form.values())
        except PortalError as exc:
            show_error(form, exc)
            project = _load(project_id)
        else:
            flash(_("The project is saved."), "success")
            return redirect(url_for("reports.project", project_id=project.id))
    status = 422 if form.is_submitted() else 200
    return render_template("reports/project_form.html", form=form, project=project), status


def _project_page(project: Project, progress_form: ProgressForm | None = None, status=200):
    if progress_form is None:
        progress_form = ProgressForm(formdata=None)
        last = svc.latest_progress(project)
        this_month = today().replace(day=1)
        progress_form.month.data = svc.month_key(this_month)
        if last is not None:
            progress_form.stage.data = last.stage.value
            progress_form.units_started.data = str(last.units_started)
            progress_form.units_completed.data = str(last.units_completed)
        else:
            progress_form.units_started.data = "0"
            progress_form.units_completed.data = "0"
    records = list(
        db.session.scalars(
            sa.select(svc.ProjectProgress)
            .where(svc.ProjectProgress.project_id == project.id)
            .order_by(svc.ProjectProgress.month.desc())
        )
    )
    return render_template(
        "reports/project.html",
        project=project,
        records=records,
        progress_form=progress_form,
        late=svc.is_late_to_start(project),
        today=today(),
    ), status


@bp.get("/projects/<int:project_id>")
@allow(Role.MANAGER)
def project(project_id: int):
    """A project: its facts, who answers for it, its progress month by month."""
    return _project_page(_load(project_id))


@bp.post("/projects/<int:project_id>/progress")
@allow(Role.MANAGER)
def record_progress(project_id: int):
    """Record (or correct) a month's progress."""
    item = _load(project_id)
    form = ProgressForm()
    if not form.validate_on_submit():
        return _project_page(item, form, 422)
    try:
        record = svc.record_progress(
            item,
            _actor(),
            month=form.month.data,
            stage=form.stage.data,
            units_started=form.units_started.data,
            units_completed=form.units_completed.data,
            investment_month=form.investment_month.data,
            problems=form.problems.data,
            started_on=form.started_on.data,
            completed_on=form.completed_on.data,
        )
    except PortalError as exc:
        show_error(form, exc)
        return _project_page(_load(project_id), form, exc.status)
    flash(_("The progress of %(month)s is recorded.", month=svc.month_key(record.month)), "success")
    return redirect(url_for("reports.project", project_id=item.id))


# --- ledgers -------------------------------------------------------------------------------


def _ledger_forms(posted: str | None = None, posted_form: LedgerForm | None = None):
    forms = {}
    year = str(today().year)
    month = svc.month_key(today().replace(day=1))
    for name, kind in ledger_svc.offered().items():
        if name == posted and posted_form is not None:
            form = posted_form
        else:
            form = LedgerForm(formdata=None, prefix=name)
            form.year.data = year
            form.month.data = month
        form.format.choices = [c for c in form.format.choices if c.value in kind.formats]
        forms[name] = (kind, form)
    return forms


def _ledgers_page(forms, status=200):
    names = list(ledger_svc.LEDGER_NAMES)
    recent = db.session.scalars(
        sa.select(Export)
        .where(Export.owner_id == _actor().id, Export.kind.in_(names))
        .order_by(Export.id.desc())
        .limit(20)
    ).all()
    return render_template(
        "reports/ledgers.html",
        forms=forms,
        monthly=ledger_svc.MONTHLY,
        recent=recent,
    ), status


@bp.get("/ledgers")
@allow(Role.MANAGER)
def ledgers():
    """Every ledger with its year (and month), and the manager's recent ones."""
    return _ledgers_page(_ledger_forms())


@bp.post("/ledgers")
@allow(Role.MANAGER)
def request_ledger():
    """Check the ledger asked for and queue it; its page shows the progress, then the file."""
    name = request.form.get("ledger", "")
    offered = ledger_svc.offered()
    if name not in offered:
        flash(_("Unknown export."), "error")
        return _ledgers_page(_ledger_forms(), 422)
    form = LedgerForm(prefix=name)
    form.format.choices = [c for c in form.format.choices if c.value in offered[name].formats]
    if form.validate_on_submit():
        try:
            export = ledger_svc.request_ledger(
                _actor(),
                name,
                form.format.data,
                current_locale(),
                year=form.year.data,
                month=form.month.data if name in ledger_svc.MONTHLY else None,
            )
        except PortalError as exc:
            show_error(form, exc)
        else:
            return redirect(url_for("exports.show", export_id=export.id))
    return _ledgers_page(_ledger_forms(name, form), 422)

"""Housing stock pages for officers and managers: estates, buildings, units, imports, vacancies.

Officers see and change the stock of their districts (anything else answers 404), managers
the whole city's.
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core import audit
from portal.core.access import allow
from portal.core.clock import today
from portal.core.errors import PortalError
from portal.core.forms import choices, run_upload, show_error
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.spreadsheets import write_csv
from portal.core.web import csv_attachment, discard_failed_work
from portal.housing import imports, services
from portal.housing.forms import (
    ALL,
    ActionForm,
    BuildingForm,
    DistrictFilterForm,
    EstateForm,
    ImportForm,
    UnitFilterForm,
    UnitForm,
)
from portal.housing.models import Building, Estate, Unit

bp = Blueprint("housing", __name__, url_prefix="/staff/housing")
WHO = (Role.OFFICER, Role.MANAGER)


def _actor() -> User:
    return current_user._get_current_object()


def _estate(estate_id: int) -> Estate:
    actor = _actor()
    return load_in_scope(Estate, estate_id, services.estate_scope(actor), actor)


def _unit(unit_id: int) -> Unit:
    actor = _actor()
    return load_in_scope(Unit, unit_id, services.unit_scope(actor), actor)


def _show(form: FlaskForm, exc: PortalError) -> None:
    """Like ``show_error``, but every field a service named gets its own messages."""
    errors = exc.details.get("errors")
    if not errors:
        show_error(form, exc)
        return
    discard_failed_work(exc)
    for name, messages in errors.items():
        field = getattr(form, name, None)
        if field is None:
            flash(str(messages[0]), "error")
        else:
            field.errors = [*field.errors, *(str(m) for m in messages)]


def _district_filter() -> tuple[DistrictFilterForm, int | None]:
    districts = services.districts_for(_actor())
    form = DistrictFilterForm(formdata=request.args)
    form.district.choices = [*ALL, *choices((d.code, d.name(current_locale())) for d in districts)]
    chosen = None
    if form.validate() and form.district.data:
        chosen = next((d.id for d in districts if d.code == form.district.data), None)
    return form, chosen


def _district_choices(form: EstateForm) -> None:
    form.district.choices = choices(
        (d.code, d.name(current_locale())) for d in services.districts_for(_actor())
    )


# --- estates ------------------------------------------------------------------------------


@bp.get("/")
@allow(*WHO)
def index():
    """The estates in the user's scope, each with its units counted by state."""
    filters, district_id = _district_filter()
    rows = services.estate_overview(_actor(), district_id)
    return render_template(
        "housing/index.html",
        rows=rows,
        filters=filters,
        totals=_totals(rows),
    )


def _totals(rows: list[services.EstateCounts]) -> dict[str, int]:
    return {
        key: sum(getattr(r, key) for r in rows)
        for key in ("vacant", "in_round", "let", "repair", "not_relet", "total")
    }


@bp.route("/estates/new", methods=["GET", "POST"])
@allow(*WHO)
def new_estate():
    form = EstateForm()
    _district_choices(form)
    status = 200
    if form.validate_on_submit():
        try:
            estate = services.create_estate(
                _actor(),
                code=form.code.data,
                name=form.name.data,
                district=form.district.data,
                address=form.address.data,
                programme=form.programme.data,
                market_rent=form.market_rent.data,
            )
        except PortalError as exc:
            _show(form, exc)
            status = exc.status
        else:
            flash(_("Estate %(name)s added. Add its buildings next.", name=estate.name), "success")
            return redirect(url_for("housing.estate", estate_id=estate.id))
    elif form.is_submitted():
        status = 422
    return render_template("housing/estate_form.html", form=form, estate=None), status


@bp.get("/estates/<int:estate_id>")
@allow(*WHO)
def estate(estate_id: int):
    """One estate: its facts, buildings and units (filterable by state and building)."""
    return _render_estate(_estate(estate_id))


def _render_estate(estate: Estate, building_form: BuildingForm | None = None, status: int = 200):
    filters = UnitFilterForm(formdata=request.args)
    filters.building.choices = [*ALL, *choices((str(b.id), b.name) for b in estate.buildings)]
    state, building_id = None, None
    if filters.validate():
        state = filters.status.data or None
        building_id = int(filters.building.data) if filters.building.data else None
    return render_template(
        "housing/estate.html",
        estate=estate,
        counts=services.counts_of(estate),
        units=services.units_of(estate, state, building_id),
        filters=filters,
        filtered=bool(state or building_id),
        building_form=building_form or BuildingForm(formdata=None),
        is_not_relet=services.is_not_relet,
        today=today(),
    ), status


@bp.route("/estates/<int:estate_id>/edit", methods=["GET", "POST"])
@allow(*WHO)
def edit_estate(estate_id: int):
    estate = _estate(estate_id)
    form = EstateForm(data=None if request.method == "POST" else _estate_data(estate))
    _district_choices(form)
    status = 200
    if form.validate_on_submit():
        try:
            services.update_estate(
                estate,
                _actor(),
                code=form.code.data,
                name=form.name.data,
                district=form.district.data,
                address=form.address.data,
                programme=form.programme.data,
                market_rent=form.market_rent.data,
            )
        except PortalError as exc:
            _show(form, exc)
            status = exc.status
        else:
            flash(_("Estate details saved."), "success")
            return redirect(url_for("housing.estate", estate_id=estate.id))
    elif form.is_submitted():
        status = 422
    return render_template("housing/estate_form.html", form=form, estate=estate), status


def _estate_data(estate: Estate) -> dict:
    return {
        "code": estate.code,
        "name": estate.name,
        "district": estate.district.code,
        "address": estate.address,
        "programme": estate.programme.value,
        "market_rent": "" if estate.market_rent is None else str(estate.market_rent),
    }


@bp.post("/estates/<int:estate_id>/buildings")
@allow(*WHO)
def add_building(estate_id: int):
    estate = _estate(estate_id)
    form = BuildingForm()
    if form.validate_on_submit():
        try:
            building = services.add_building(estate, _actor(), form.building.data)
        except PortalError as exc:
            _show(form, exc)
            return _render_estate(_estate(estate_id), form, exc.status)
        flash(_("Building %(name)s added.", name=building.name), "success")
        return redirect(url_for("housing.new_unit", estate_id=estate.id, building=building.id))
    return _render_estate(estate, form, 422)


# --- units --------------------------------------------------------------------------------


def _building_choices(form: UnitForm, estate: Estate) -> None:
    form.building.choices = choices((str(b.id), b.name) for b in estate.buildings)


def _building_of(estate: Estate, value: str | None) -> Building | None:
    return next((b for b in estate.buildings if str(b.id) == (value or "")), None)


def _unit_values(form: UnitForm) -> dict:
    return {
        "number": form.number.data,
        "floor": form.floor.data,
        "area": form.area.data,
        "rooms": form.rooms.data,
        "rent": form.rent.data,
        "accessible": form.accessible.data,
    }


@bp.route("/estates/<int:estate_id>/units/new", methods=["GET", "POST"])
@allow(*WHO)
def new_unit(estate_id: int):
    estate = _estate(estate_id)
    if not estate.buildings:
        flash(_("Add a building first; every unit is in one."), "error")
        return redirect(url_for("housing.estate", estate_id=estate.id))
    form = UnitForm(data=None if request.method == "POST" else {"floor": "1", "rooms": "1"})
    _building_choices(form, estate)
    if request.method == "GET" and _building_of(estate, request.args.get("building")):
        form.building.data = request.args["building"]
    status = 200
    if form.validate_on_submit():
        building = _building_of(estate, form.building.data)
        if building is None:
            abort(400)
        try:
            unit = services.create_unit(building, _actor(), **_unit_values(form))
        except PortalError as exc:
            _show(form, exc)
            status = exc.status
        else:
            flash(
                _(
                    "Unit %(number)s added to %(building)s.",
                    number=unit.number,
                    building=building.name,
                ),
                "success",
            )
            if request.form.get("next") == "another":
                return redirect(
                    url_for("housing.new_unit", estate_id=estate.id, building=building.id)
                )
            return redirect(url_for("housing.estate", estate_id=estate.id))
    elif form.is_submitted():
        status = 422
    return render_template("housing/unit_form.html", form=form, estate=estate, unit=None), status


@bp.route("/units/<int:unit_id>", methods=["GET", "POST"])
@allow(*WHO)
def unit(unit_id: int):
    """A unit: its details to change, and its state (under repair / vacant again)."""
    item = _unit(unit_id)
    estate = item.estate
    form = UnitForm(data=None if request.method == "POST" else _unit_data(item))
    _building_choices(form, estate)
    status = 200
    if form.validate_on_submit():
        building = _building_of(estate, form.building.data)
        if building is None:
            abort(400)
        try:
            services.update_unit(item, _actor(), building=building, **_unit_values(form))
        except PortalError as exc:
            _show(form, exc)
            status = exc.status
            item = _unit(unit_id)
        else:
            flash(_("Unit details saved."), "success")
            return redirect(url_for("housing.estate", estate_id=estate.id))
    elif form.is_submitted():
        status = 422
    return _render_unit(item, form, status)


def _unit_data(unit: Unit) -> dict:
    return {
        "building": str(unit.building_id),
        "number": unit.number,
        "floor": str(unit.floor),
        "area": str(unit.area),
        "rooms": str(unit.rooms),
        "rent": str(unit.rent),
        "accessible": unit.accessible,
    }


def _render_unit(item: Unit, form: UnitForm | None = None, status: int = 200):
    if form is None:
        form = UnitForm(formdata=None, data=_unit_data(item))
        _building_choices(form, item.estate)
    return render_template(
        "housing/unit_form.html",
        form=form,
        estate=item.estate,
        unit=item,
        locked=item.status in services.LOCKED_IN,
        not_relet=services.is_not_relet(item),
        today=today(),
    ), status


def _state_change(unit_id: int, change, done: str):
    item = _unit(unit_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        change(item, _actor())
    except PortalError as exc:
        discard_failed_work(exc)
        flash(str(exc), "error")
        return _render_unit(_unit(unit_id), status=exc.status)
    flash(done, "success")
    return redirect(url_for("housing.unit", unit_id=unit_id))


@bp.post("/units/<int:unit_id>/repair")
@allow(*WHO)
def repair(unit_id: int):
    """Take a vacant unit out for repairs: no round offers it meanwhile."""
    return _state_change(unit_id, services.set_maintenance, _("The unit is marked under repair."))


@bp.post("/units/<int:unit_id>/repaired")
@allow(*WHO)
def repaired(unit_id: int):
    """Repairs done: the unit is vacant again."""
    return _state_change(unit_id, services.end_maintenance, _("The unit is vacant again."))


# --- import -------------------------------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"])
@allow(*WHO)
def import_units():
    """Upload a CSV or XLSX of units; all rows are checked before anything is written."""
    form = ImportForm()
    result, status = run_upload(
        form, lambda upload: imports.import_units(upload, upload.filename, _actor())
    )
    if result is not None and result.ok:
        flash(
            ngettext(
                "Imported %(num)d row: %(created)d units created, %(updated)d updated.",
                "Imported %(num)d rows: %(created)d units created, %(updated)d updated.",
                result.rows,
                created=result.created,
                updated=result.updated,
            ),
            "success",
        )
    return render_template(
        "housing/import.html",
        form=form,
        result=result,
        max_rows=imports.MAX_ROWS,
        columns=imports.COLUMNS,
        required=imports.REQUIRED,
    ), status


@bp.get("/import/template.csv")
@allow(*WHO)
def import_template():
    """The import template: headers in the reader's language and one example row."""
    chinese = current_locale().startswith("zh")
    return csv_attachment(imports.template_csv(chinese), "housing-import-template.csv")


# --- vacancies not re-let -----------------------------------------------------------------


@bp.get("/not-relet")
@allow(*WHO)
def not_relet():
    """Units vacated more than a year ago and not let since (腾退一年以上未再出租)."""
    filters, district_id = _district_filter()
    rows = services.not_relet_rows(_actor(), district_id=district_id)
    return render_template("housing/not_relet.html", rows=rows, filters=filters, today=today())


@bp.get("/not-relet.csv")
@allow(*WHO)
def not_relet_csv():
    """The same report as a spreadsheet (CSV, UTF-8 with BOM for Excel)."""
    _filters, district_id = _district_filter()
    actor = _actor()
    rows = services.not_relet_rows(actor, district_id=district_id)
    locale = current_locale()
    buf = io.StringIO()
    buf.write("\ufeff")
    header = [
        _("Estate code"),
        _("Estate"),
        _("District"),
        _("Building"),
        _("Unit"),
        _("Floor area (m²)"),
        _("Rooms"),
        _("Status"),
        _("Vacated on"),
        _("Days vacant"),
    ]
    write_csv(
        buf,
        header,
        (
            [
                r.unit.estate.code,
                r.unit.estate.name,
                r.unit.estate.district.name(locale),
                r.unit.building.name,
                r.unit.number,
                r.unit.area,
                r.unit.rooms,
                str(r.unit.status.label),
                r.unit.vacated_on.isoformat(),
                r.days,
            ]
            for r in rows
        ),
    )
    audit.record("housing.not_relet_export", actor=actor, units=len(rows))
    return csv_attachment(buf.getvalue(), f"not-relet-{today().isoformat()}.csv")

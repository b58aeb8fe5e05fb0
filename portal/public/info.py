"""Public information without signing in: programme guides, the eligibility self-check,
housing listings, office contacts; and the managers' page that keeps the contacts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.roles import Role
from portal.applications.models import Programme
from portal.core.access import allow, public
from portal.core.errors import PortalError, ValidationFailed
from portal.core.forms import choices, show_error
from portal.core.i18n import current_locale
from portal.extensions import db
from portal.housing.services import HOUSING_PROGRAMMES
from portal.public import selfcheck, services
from portal.public.forms import ALL, ListingFilterForm, OfficeForm, SelfCheckForm
from portal.public.models import Office

bp = Blueprint("info", __name__)

# The programmes' anchors on /programmes, in the order the page reads.
PROGRAMMES = (Programme.PUBLIC_RENTAL, Programme.RENTAL_SUBSIDY, Programme.AFFORDABLE_RENTAL)


@bp.get("/programmes")
@public
def programmes():
    """A guide to each programme: who may apply, the rule numbers in force today, what to
    bring, how long each step takes, and where to go next."""
    from portal.admin.rules import RULE_SETS

    return render_template(
        "info/programmes.html",
        guide=services.programme_guide(),
        programmes=PROGRAMMES,
        rule_names=RULE_SETS,
    )


@bp.get("/self-check")
@public
def self_check():
    """The eligibility self-check: answers in the query string, nothing stored or logged
    (the request log never holds the query string)."""
    submitted = "household_size" in request.args or "programme" in request.args
    form = SelfCheckForm(request.args if submitted else None)
    if not submitted and request.args.get("for") in {p.value for p in Programme}:
        form.programme.data = request.args["for"]
    result = None
    status = 200
    if submitted:
        if form.validate():
            try:
                result = selfcheck.self_check(form.answers())
            except ValidationFailed as exc:
                show_error(form, exc)
                status = exc.status
        else:
            status = 422
    return render_template(
        "info/self_check.html", form=form, result=result, estimate_note=selfcheck.ESTIMATE_NOTE
    ), status


def _listing_form() -> ListingFilterForm:
    form = ListingFilterForm(request.args)
    locale = current_locale()
    form.district.choices = choices(
        [ALL, *((d.code, d.name(locale)) for d in services.districts())]
    )
    return form


@bp.get("/housing")
@public
def housing():
    """Public housing estates with their unit types, rents and vacant units; filtered by
    district and programme."""
    form = _listing_form()
    page = request.args.get("page", 1, type=int)
    status = 200
    try:
        listing = services.housing_listing(form.district.data, form.programme.data, page)
    except ValidationFailed as exc:
        show_error(form, exc)
        status = exc.status
        listing = services.housing_listing(page=1)
    args = {k: v for k, v in request.args.items() if k in ("district", "programme") and v}
    return render_template(
        "info/housing.html",
        form=form,
        listing=listing,
        args=args if status == 200 else {},
        programmes=HOUSING_PROGRAMMES,
    ), status


@bp.get("/housing/<code>")
@public
def estate(code: str):
    """One estate: its unit types, rents and vacant units. No unit or tenant is named."""
    return render_template("info/estate.html", item=services.estate_listing(code))


@bp.get("/contacts")
@public
def contacts():
    """The housing offices: the city's centre and each district's, with address, phone and
    opening hours in the reader's language."""
    is_manager = current_user.is_authenticated and current_user.role is Role.MANAGER
    return render_template(
        "info/contacts.html", offices=services.list_offices(), can_edit=is_manager
    )


# --- managers keep the contacts -------------------------------------------------------------


def _actor():
    return current_user._get_current_object()


def _office_form(office: Office | None = None) -> OfficeForm:
    form = OfficeForm(obj=office) if office is not None else OfficeForm()
    form.set_districts(services.districts(), current_locale())
    if office is not None and request.method == "GET":
        form.district_id.data = str(office.district_id) if office.district_id else ""
    return form


def _data(form: OfficeForm) -> services.OfficeData:
    raw = form.district_id.data or ""
    if raw and not raw.isdigit():
        raise ValidationFailed(_("There is no such district."), field="district_id")
    return services.OfficeData(
        district_id=int(raw) if raw else None,
        name_zh=form.name_zh.data,
        name_en=form.name_en.data,
        address=form.address.data,
        phone=form.phone.data,
        hours_zh=form.hours_zh.data,
        hours_en=form.hours_en.data,
        sort_order=form.sort_order.data,
    )


@bp.route("/manager/offices", methods=["GET", "POST"])
@allow(Role.MANAGER)
def offices():
    """The offices the public reads, and a form to add one."""
    form = _office_form()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                office = services.add_office(_actor(), _data(form))
            except PortalError as exc:
                show_error(form, exc)
                status = exc.status
            else:
                flash(
                    _("The office %(name)s is added.", name=office.name(current_locale())),
                    "success",
                )
                return redirect(url_for("info.offices"))
        else:
            status = 422
    return render_template("info/offices.html", offices=services.list_offices(), form=form), status


@bp.route("/manager/offices/<int:office_id>", methods=["GET", "POST"])
@allow(Role.MANAGER)
def office(office_id: int):
    """Edit one office's contacts."""
    item = db.get_or_404(Office, office_id)
    form = _office_form(item)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.update_office(_actor(), item, _data(form))
            except PortalError as exc:
                show_error(form, exc)
                status = exc.status
                item = db.get_or_404(Office, office_id)
            else:
                flash(
                    _("The contacts of %(name)s are saved.", name=item.name(current_locale())),
                    "success",
                )
                return redirect(url_for("info.offices"))
        else:
            status = 422
    return render_template("info/office.html", office=item, form=form), status

"""Ask for an export, watch it being prepared, download it (its owner only)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.accounts.roles import Role
from portal.core.access import allow
from portal.core.errors import PortalError
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.web import discard_failed_work
from portal.exports import services
from portal.exports.models import Export, ExportStatus
from portal.extensions import db

bp = Blueprint("exports", __name__, url_prefix="/exports")
WHO = (Role.OFFICER, Role.MANAGER)


def _mine(export_id: int) -> Export:
    user = current_user._get_current_object()
    return load_in_scope(Export, export_id, Export.owner_id == user.id, user)


@bp.get("/")
@allow(*WHO)
def index():
    rows = db.session.scalars(
        sa.select(Export)
        .where(Export.owner_id == current_user.id)
        .order_by(Export.id.desc())
        .limit(50)
    ).all()
    return render_template(
        "exports/index.html",
        exports=rows,
        kinds=services.kinds_for(current_user._get_current_object()),
        form=FlaskForm(),
    )


@bp.post("/")
@allow(*WHO)
def create():
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for(".index"))
    try:
        export = services.request_export(
            current_user._get_current_object(),
            request.form.get("kind", ""),
            request.form.get("format", ""),
            current_locale(),
        )
    except PortalError as exc:
        discard_failed_work(exc)
        flash(str(exc), "error")
        return redirect(url_for(".index"))
    return redirect(url_for(".show", export_id=export.id))


@bp.get("/<int:export_id>")
@allow(*WHO)
def show(export_id: int):
    export = _mine(export_id)
    running = export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
    return render_template("exports/show.html", export=export, refresh=running)


@bp.get("/<int:export_id>/download")
@allow(*WHO)
def download(export_id: int):
    export = _mine(export_id)
    if export.status is not ExportStatus.DONE:
        return redirect(url_for(".show", export_id=export.id))
    return services.file_response(export, current_user._get_current_object())


@bp.app_template_global()
def export_title(kind: str) -> str:
    return services.title_of(kind)

"""Managers' pages of the joint-punishment lists: the list, its exports (built by the exports
module, with a detached signature), and the lists partner agencies pushed in."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.accounts.models import ApiClient, User
from portal.accounts.roles import Role
from portal.core import audit
from portal.core.access import allow
from portal.core.errors import PortalError
from portal.core.i18n import current_locale
from portal.core.scope import load_in_scope
from portal.core.web import discard_failed_work
from portal.credit import lists, signing
from portal.credit.models import ExternalListing, Grade
from portal.exports import services as exports
from portal.exports.models import Export, ExportStatus
from portal.extensions import db

bp = Blueprint("credit_lists", __name__, url_prefix="/staff/credit/lists")
PAGE = 50


def _manager() -> User:
    return current_user._get_current_object()


@bp.get("/")
@allow(Role.MANAGER)
def index():
    """The joint-punishment list today: counts, subjects page by page, exports."""
    after = (request.args.get("after") or "")[:64]
    subjects, next_after = lists.joint_list(after=after, limit=PAGE)
    recent = db.session.scalars(
        sa.select(Export)
        .where(Export.owner_id == current_user.id, Export.kind.in_(list(lists.EXPORT_KINDS)))
        .order_by(Export.id.desc())
        .limit(10)
    ).all()
    return render_template(
        "credit/lists_index.html",
        summary=lists.joint_summary(),
        subjects=subjects,
        after=after,
        next_after=next_after,
        grades=list(Grade),
        kinds={k: v.title for k, v in lists.EXPORT_KINDS.items()},
        recent=recent,
        form=FlaskForm(),
    )


@bp.post("/exports")
@allow(Role.MANAGER)
def export():
    """Ask for an export of the list; the exports module builds it and shows its progress."""
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for(".index"))
    kind = request.form.get("kind", "")
    if kind not in lists.EXPORT_KINDS:
        abort(404)
    try:
        job = exports.request_export(
            _manager(), kind, request.form.get("format", ""), current_locale()
        )
    except PortalError as exc:
        discard_failed_work(exc)
        flash(str(exc), "error")
        return redirect(url_for(".index"))
    return redirect(url_for("exports.show", export_id=job.id))


@bp.get("/exports/<int:export_id>/signature")
@allow(Role.MANAGER)
def signature(export_id: int):
    """The detached signature of one of the manager's finished list exports: a manifest
    (file name, size, SHA-256) signed with the portal's Ed25519 key."""
    user = _manager()
    job = load_in_scope(
        Export,
        export_id,
        sa.and_(Export.owner_id == user.id, Export.kind.in_(list(lists.EXPORT_KINDS))),
        user,
    )
    if job.status is not ExportStatus.DONE:
        return redirect(url_for("exports.show", export_id=job.id))
    name = exports.download_name(job)
    document = signing.detached_signature(
        exports.export_path(job),
        name=name,
        kind=job.kind,
        format=job.format,
        rows=job.done_rows,
        on=job.params.get("on"),
    )
    audit.record("export.signature_downloaded", actor=user, obj=job, key_id=document["key_id"])
    resp = Response(
        json.dumps(document, ensure_ascii=False, indent=2) + "\n", mimetype="application/json"
    )
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}.sig.json"'
    return resp


@bp.get("/partners")
@allow(Role.MANAGER)
def partners():
    """Lists partner agencies pushed in: counts by agency and list, and the entries."""
    client_id = request.args.get("client", type=int)
    before = request.args.get("before", type=int)
    rows, next_before = lists.listings(client_id, before=before, limit=PAGE)
    agency = db.session.get(ApiClient, client_id) if client_id else None
    return render_template(
        "credit/lists_partners.html",
        counts=lists.listing_counts(),
        listings=rows,
        agency=agency,
        next_before=next_before,
        form=FlaskForm(),
        reason_min=lists.REMOVAL_REASON_MIN,
    )


@bp.post("/partners/<int:listing_id>/remove")
@allow(Role.MANAGER)
def remove(listing_id: int):
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for(".partners"))
    listing = db.get_or_404(ExternalListing, listing_id)
    try:
        lists.remove_listing(_manager(), listing, request.form.get("reason", ""))
    except PortalError as exc:
        discard_failed_work(exc)
        flash(str(exc), "error")
        return redirect(url_for(".partners"))
    flash(_("The listing was taken off; it no longer screens applicants."), "success")
    return redirect(url_for(".partners"))

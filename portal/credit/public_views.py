"""The public page of published credit records (信用信息公示): no sign-in, masked."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from portal.core.access import public
from portal.credit import lists
from portal.credit.models import Grade

bp = Blueprint("credit_public", __name__, url_prefix="/credit")


@bp.get("")
@public
def index():
    """Records published today, newest first: names and ID numbers of persons masked,
    organisations by name and credit code; searchable by reference or organisation."""
    q = (request.args.get("q") or "").strip()[:120]
    before = request.args.get("before", type=int)
    rows, next_before = lists.published_records(q=q, before=before)
    return render_template(
        "credit/public_index.html",
        records=[lists.payload_of(r) for r in rows],
        q=q,
        before=before,
        next_before=next_before,
        grades=list(Grade),
    )

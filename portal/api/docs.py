"""Interactive API documentation, served by the portal itself (no CDN, no inline script)."""

from flask import Blueprint, render_template

from portal.core.access import public

bp = Blueprint("api_docs", __name__)


@bp.get("/api/v1/docs")
@public
def docs():
    """Swagger UI reading ``/api/v1/openapi.json``."""
    return render_template("api/docs.html")

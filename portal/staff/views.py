"""Staff start page. Officers' queues and managers' dashboards join it as they land."""

from flask import Blueprint, render_template

from portal.accounts.roles import STAFF_ROLES
from portal.core.access import allow

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/")
@allow(*STAFF_ROLES)
def home():
    return render_template("staff/home.html")

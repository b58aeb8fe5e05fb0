"""Staff start page: each role's work. Officers see their queues and deadlines
(``portal/staff/workbench.py``)."""

from flask import Blueprint, render_template
from flask_login import current_user

from portal.accounts.roles import STAFF_ROLES, Role
from portal.core.access import allow
from portal.core.clock import today
from portal.staff.workbench import officer_queues

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/")
@allow(*STAFF_ROLES)
def home():
    user = current_user._get_current_object()
    on = today()
    queues = officer_queues(user, on) if user.role is Role.OFFICER else []
    return render_template("staff/home.html", queues=queues, today=on)

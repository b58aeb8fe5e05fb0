"""Flask extensions, created unbound and initialised in ``create_app``."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from portal.core.db import Base, include_object, render_item
from portal.core.net import client_address


class PortalApi(Api):
    """flask-smorest, minus its app-wide JSON error handler: HTML pages keep their own
    error pages and API paths get problem+json from ``portal.core.web``."""

    def _register_error_handlers(self) -> None:
        return None


db = SQLAlchemy(model_class=Base)
migrate = Migrate(
    compare_type=True,
    render_as_batch=True,
    render_item=render_item,
    include_object=include_object,
)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_address, default_limits=[])
api = PortalApi()

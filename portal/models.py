"""Every model module, imported once so the metadata (and Alembic) knows all tables."""

from portal.accounts import models as accounts  # noqa: F401
from portal.allocation import models as allocation  # noqa: F401
from portal.applications import models as applications  # noqa: F401
from portal.core import audit, settings  # noqa: F401
from portal.credit import models as credit  # noqa: F401
from portal.exports import models as exports  # noqa: F401
from portal.housing import models as housing  # noqa: F401
from portal.jobs import models as jobs  # noqa: F401
from portal.notices import models as notices  # noqa: F401
from portal.notifications import models as notifications  # noqa: F401
from portal.public import models as public  # noqa: F401
from portal.reports import models as reports  # noqa: F401
from portal.reviews import models as reviews  # noqa: F401
from portal.subsidy import models as subsidy  # noqa: F401
from portal.tenancy import models as tenancy  # noqa: F401
from portal.verification import models as verification  # noqa: F401
from portal.waitlist import models as waitlist  # noqa: F401

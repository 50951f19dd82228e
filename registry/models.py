"""Every model module, imported here so that Base.metadata knows every table (Alembic, tests)."""

from registry.audit import models as audit  # noqa: F401
from registry.auth import models as auth  # noqa: F401
from registry.controls import models as controls  # noqa: F401
from registry.decisions import models as decisions  # noqa: F401
from registry.files import models as files  # noqa: F401
from registry.imports import models as imports  # noqa: F401
from registry.incidents import models as incidents  # noqa: F401
from registry.inventory import models as inventory  # noqa: F401
from registry.monitoring import models as monitoring  # noqa: F401
from registry.readiness import models as readiness  # noqa: F401
from registry.reliability import models as reliability  # noqa: F401
from registry.reports import models as reports  # noqa: F401
from registry.state import models as state  # noqa: F401
from registry.value import models as value  # noqa: F401


def import_all() -> None:
    """Kept for callers that want the import to read as an action (tests, migrations/env.py)."""

"""Imports every model module so that Base.metadata knows every table (Alembic, tests)."""


def import_all() -> None:
    from registry.audit import models as _audit  # noqa: F401
    from registry.auth import models as _auth  # noqa: F401
    from registry.controls import models as _controls  # noqa: F401
    from registry.decisions import models as _decisions  # noqa: F401
    from registry.inventory import models as _inventory  # noqa: F401
    from registry.portfolio import models as _portfolio  # noqa: F401
    from registry.readiness import models as _readiness  # noqa: F401
    from registry.reports import models as _reports  # noqa: F401

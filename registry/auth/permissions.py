"""Who may do what: the role rules and the object-level rules, in one place.

Views call these before a service runs; services that change data call them too, so the
CLI, the importer and the API cannot step around them.
"""

from __future__ import annotations

from registry.enums import Role
from registry.errors import PermissionDenied

READ_INVENTORY = {Role.ADMIN, Role.COMPLIANCE, Role.OWNER, Role.EXECUTIVE}
CREATE_SYSTEM = {Role.ADMIN, Role.OWNER}
OVERRIDE_TIER = {Role.COMPLIANCE}
DELETE_SYSTEM = {Role.ADMIN}
MANAGE_USERS = {Role.ADMIN}
REVIEW = {Role.COMPLIANCE}
RECORD_DECISION = {Role.COMPLIANCE}
READ_ALL_REPORTS = {Role.COMPLIANCE, Role.EXECUTIVE}
VERIFY_REPORTS = {Role.COMPLIANCE}
IMPORT_INVENTORY = {Role.ADMIN, Role.COMPLIANCE}


def has_role(user, roles: set[Role]) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.role in roles


def can_read_inventory(user) -> bool:
    return has_role(user, READ_INVENTORY)


def can_export_inventory(user) -> bool:
    """Excel/CSV exports hold nothing the inventory, controls and decision pages do not show,
    and every role reads those: every role that reads the inventory may export it."""
    return can_read_inventory(user)


def can_import(user) -> bool:
    """Import an inventory file (page, command line, API): admins and compliance officers, who
    bring a whole organisation's inventory in; the records it creates have no owner until named."""
    return has_role(user, IMPORT_INVENTORY)


def can_create_system(user) -> bool:
    return has_role(user, CREATE_SYSTEM)


def can_edit_system(user, system) -> bool:
    """Admins edit any system; a product owner only those they own (accountable or technical owner).

    Separation of duties uses the wider ``AISystem.named_user_ids`` (the owners plus the four
    owners named in the ownership answer, the ``system_people`` table): whoever is named may
    never review, verify, override or decide the system, but only its owners edit it."""
    if has_role(user, {Role.ADMIN}):
        return True
    return has_role(user, {Role.OWNER}) and user.id in system.owner_ids()


def can_override_tier(user, system) -> bool:
    """Compliance officers, but never on a system they are named on."""
    return has_role(user, OVERRIDE_TIER) and user.id not in system.named_user_ids()


def can_confirm_tier_override(user, system) -> bool:
    """A downward override needs a second compliance officer: not named, not the one who made it."""
    return can_override_tier(user, system) and user.id != system.tier_override_by_id


def can_report_incident(user, system) -> bool:
    """Report and update a system's incidents: its owners, compliance officers and admins (an
    incident is a fact to record, not a review, so being named on the system does not stop it)."""
    return has_role(user, {Role.ADMIN, Role.COMPLIANCE}) or can_edit_system(user, system)


def can_record_trials(user, system) -> bool:
    """Upload a system's evaluation trials and its workflow's step rates: as for incidents."""
    return can_report_incident(user, system)


def can_set_reliability_gate(user, system) -> bool:
    """Set or clear the pass^k release gate, which can block GO: admins, and compliance officers who
    are not named on the system (whoever wants the GO does not set the bar for it)."""
    return has_role(user, {Role.ADMIN}) or can_review(user, system)


def can_stop_pilot(user, system) -> bool:
    """Stop a pilot (the system is retired, its record kept): a compliance officer or an admin, or the
    system's accountable owner.  Stopping is the cautious way, so no separation of duties applies."""
    if has_role(user, {Role.ADMIN, Role.COMPLIANCE}):
        return True
    return has_role(user, {Role.OWNER}) and user.is_active and user.id == system.accountable_owner_id


def can_delete_system(user) -> bool:
    return has_role(user, DELETE_SYSTEM)


def can_manage_users(user) -> bool:
    return has_role(user, MANAGE_USERS)


def can_review(user, system) -> bool:
    """Accept or return answers and verify controls: compliance, never on a system they are named on."""
    return has_role(user, REVIEW) and user.id not in system.named_user_ids()


def can_record_decision(user, system) -> bool:
    """Separation of duties: whoever owns or is named on the system cannot record its decision."""
    return has_role(user, RECORD_DECISION) and user.id not in system.named_user_ids()


def can_acknowledge_decision(user, system, decision) -> bool:
    """The accountable owner named when the decision was taken acknowledges it, and its conditions."""
    return user.is_active and user.id == decision.owner_to_acknowledge(system.accountable_owner_id)


def can_read_audit_trail(user) -> bool:
    """The whole audit trail (sign-ins, accounts, every system): admins and compliance officers.
    One system's history is read by whoever reads the system."""
    return has_role(user, {Role.ADMIN, Role.COMPLIANCE})


def can_see_review_queue(user) -> bool:
    return has_role(user, {Role.COMPLIANCE, Role.ADMIN})


def can_see_portfolio(user) -> bool:
    """The portfolio dashboard and its PDF: executives, compliance officers and admins (read-only)."""
    return has_role(user, {Role.EXECUTIVE, Role.COMPLIANCE, Role.ADMIN})


def can_download_report(user, system) -> bool:
    """Audit PDFs: compliance officers and executives, any system; product owners, their own systems."""
    if has_role(user, READ_ALL_REPORTS):
        return True
    return has_role(user, {Role.OWNER}) and user.id in system.owner_ids()


def can_verify_report(user) -> bool:
    """Upload a PDF to check it against the registry's record (and export PDFs in bulk)."""
    return has_role(user, VERIFY_REPORTS)


def require(allowed: bool, message: str = "Your role does not allow this.") -> None:
    if not allowed:
        raise PermissionDenied(message)

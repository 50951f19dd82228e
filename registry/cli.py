"""The `registry` console command: Flask's CLI group plus the operator's commands.

`registry run` and `registry shell` come from Flask; the rest are below.  Every command
that changes data goes through the same services as the web pages, in one transaction:
on an error nothing is written and the command exits non-zero with a plain message.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import click
import yaml
from flask import current_app
from flask.cli import FlaskGroup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from registry import create_app, migrate
from registry.audit.checkpoints import (
    UnsignedChain,
    newest_checkpoint,
    parse_checkpoint,
    verify_signatures,
    write_checkpoint,
)
from registry.audit.services import record_event, verify_chain
from registry.auth.models import User
from registry.auth.services import create_user, list_users, normalise_email
from registry.auth.tokens import create_token, list_tokens, revoke_token
from registry.controls.catalogue import load_catalogue, load_default_catalogues
from registry.controls.evidence_migration import migrate_evidence_files, verify_files
from registry.controls.models import Control, Framework
from registry.db import analyze, utcnow
from registry.decisions.services import recorded_heads_missing
from registry.errors import DomainError
from registry.exports.services import write_export
from registry.files.store import StoreConfigError
from registry.imports.mapping import check_mapping
from registry.imports.reader import ImportFileError, read_table
from registry.imports.services import (
    ImportRefused,
    UnknownLayout,
    commit_import,
    plan_import,
    resolve_mapping,
    save_mapping,
)
from registry.inventory.queries import InventoryFilters
from registry.inventory.services import recompute_tiers
from registry.inventory.tiering import RULES_VERSION
from registry.jobs import work
from registry.portfolio.jobs import create_job as create_rebuild_job
from registry.portfolio.jobs import start as start_rebuild_job
from registry.reports.models import ExportJob
from registry.reports.queue import JobSettings, QueueUnavailable, purge, reap
from registry.reports.services import RenderLimits, ensure_report, get_decision, issue_missing, list_decisions
from registry.reports.verify import verify_pdf
from registry.seed.demo import database_is_empty, load_demo, read_demo
from registry.seed.synthetic import seed_synthetic
from registry.state.cache import rebuild_all, refresh_due_states
from registry.web import export_run


def _sessions():
    return current_app.extensions["registry.sessions"][0]


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False,
             help="Readiness Registry operator commands.")
def main() -> None:
    pass


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION; at head, also recompute the tiers of systems computed under
    earlier tier rules (audited, signed: a migration cannot sign audit events).  Holds the release
    lock throughout: nodes starting together take turns, and the later ones find nothing to do."""
    url = current_app.config["DATABASE_URL"]
    with migrate.release_lock(url):
        migrate.upgrade(url, revision)
        click.echo(f"Database at {revision}.")
        if revision != "head":
            return
        with _sessions()() as session:
            counts = recompute_tiers(session, None, actor_label=f"tier rules v{RULES_VERSION} (registry db upgrade)")
            session.commit()
    if counts["recomputed"]:
        click.echo(f"Recomputed {counts['recomputed']} systems under tier rules v{RULES_VERSION}; "
                   f"{counts['changed']} changed tier (each audited).")


@db.command("check")
def db_check() -> None:
    """Exit 0 when the database is at the code's head revision; else print both revisions and exit 1."""
    current, head = migrate.revisions(current_app.config["DATABASE_URL"])
    if current == head:
        click.echo(f"Database at head ({head}).")
        return
    click.echo(f"Database at {current or 'no revision (empty)'}, code at {head}: "
               "run `registry db upgrade` (then `registry catalogue load`).", err=True)
    sys.exit(1)


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (for developers)."""
    migrate.downgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database at {revision}.")


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (for developers)."""
    migrate.revision(current_app.config["DATABASE_URL"], message)


@main.command()
@click.option("--demo", is_flag=True, help="Load the demo portfolio and demo accounts.")
@click.option("--synthetic", type=click.IntRange(1, 1_000_000), help="Add N synthetic systems (benchmarks).")
@click.option("--if-empty", is_flag=True, help="With --demo: do nothing when the database holds data.")
def seed(demo: bool, synthetic: int | None, if_empty: bool) -> None:
    """Load the demo portfolio or synthetic systems."""
    if not demo and not synthetic:
        _fail("say what to load: --demo or --synthetic N")
    if demo and current_app.config["REGISTRY_ENV"] == "production":
        _fail("demo accounts are never loaded in production (REGISTRY_ENV=production)")
    with _sessions()() as session:
        try:
            if demo:
                if not database_is_empty(session):
                    if if_empty:
                        click.echo("Database already holds data; demo portfolio not loaded.")
                        return
                    _fail("the database already holds data; demo data goes into an empty database only")
                counts = load_demo(session)
                click.echo(f"Loaded the demo portfolio: {counts['systems']} systems, {counts['users']} accounts.")

                session.commit()
                # The demo's PDFs name its (fictional) organisation unless ORGANISATION_NAME names another.
                limits = _report_limits()
                limits = replace(limits, organisation_name=limits.organisation_name or read_demo().get("organisation", ""))
                issued = issue_missing(session, limits)
                click.echo(f"Issued the audit PDFs of its {len(issued)} decisions.")
            if synthetic:
                started = time.perf_counter()
                seed_synthetic(session, synthetic)
                session.commit()

                analyze(current_app.extensions["registry.engine"])
                click.echo(f"Added {synthetic} synthetic systems in {time.perf_counter() - started:.1f} s.")
            session.commit()
        except DomainError as err:
            session.rollback()
            _fail(_describe(err))


def _describe(err: DomainError) -> str:
    details = "; ".join(f"{k}: {' '.join(v)}" for k, v in err.errors.items())
    return f"{err.message} {details}".strip()


@main.group()
def users() -> None:
    """Accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "compliance", "owner", "executive"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (first line).")
def users_create(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Create an account; the password comes from standard input, never the command line."""
    if not password_stdin:
        _fail("pass --password-stdin and give the password on standard input")
    password = sys.stdin.readline().rstrip("\r\n")
    with _sessions()() as session:
        try:
            user = create_user(session, None, email=email, name=name, role=role, password=password)
            session.commit()
        except DomainError as err:
            session.rollback()
            _fail(_describe(err))
    click.echo(f"Created {user.email} ({user.role.label}).")


@users.command("list")
def users_list() -> None:
    """One line per account: email, role, active."""
    with _sessions()() as session:
        for user in list_users(session):
            click.echo(f"{user.email}\t{user.role.value}\t{'active' if user.is_active else 'inactive'}")


@main.group()
def tokens() -> None:
    """Personal API tokens (the JSON API at /api/v1); people also manage their own at /settings/tokens."""


@tokens.command("create")
@click.option("--email", required=True, help="The account the token acts as (its role and permissions).")
@click.option("--name", required=True, help="What uses it, e.g. \"MLOps pipeline\".")
@click.option("--expires", type=click.DateTime(formats=["%Y-%m-%d"]), help="The last day it works (YYYY-MM-DD).")
def tokens_create(email: str, name: str, expires) -> None:
    """Create a token and print it, once: only its hash is kept (audited)."""
    with _sessions()() as session:
        user = session.scalar(select(User).where(User.email == normalise_email(email)))
        if user is None:
            _fail(f"no account {email}")
        try:
            created = create_token(session, None, user, name, expires_on=expires.date() if expires else None,
                                   actor_label="command line (registry tokens create)")
            session.commit()
        except DomainError as err:
            session.rollback()
            _fail(_describe(err))
    click.echo(f"Created API token #{created.token.id} “{created.token.name}” for {user.email}"
               + (f", last day {created.token.expires_on.isoformat()}" if created.token.expires_on else "")
               + ". It is shown only now; keep it secret:", err=True)
    click.echo(created.secret)


@tokens.command("list")
@click.option("--email", help="Only this account's tokens.")
def tokens_list(email: str | None) -> None:
    """One line per token: id, account, name, prefix, created, last used, last day, status (tab-separated)."""
    with current_app.extensions["registry.sessions"][1]() as session:
        user = None
        if email:
            user = session.scalar(select(User).where(User.email == normalise_email(email)))
            if user is None:
                _fail(f"no account {email}")
        today = utcnow().date()
        for t in list_tokens(session, user):
            status = "revoked" if t.revoked_at else ("active" if t.usable(today) else "expired")
            clean = " ".join(t.name.split())
            click.echo("\t".join((str(t.id), t.user.email, clean, f"{t.prefix}…", t.created_at.date().isoformat(),
                                  t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never",
                                  t.expires_on.isoformat() if t.expires_on else "-", status)))


@tokens.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID (see `registry tokens list`); audited."""
    with _sessions()() as session:
        try:
            token = revoke_token(session, None, token_id, actor_label="command line (registry tokens revoke)")
            session.commit()
        except DomainError as err:
            session.rollback()
            _fail(_describe(err))
    click.echo(f"Revoked API token #{token.id} “{token.name}” ({token.prefix}…) of {token.user.email}.")


@main.group()
def catalogue() -> None:
    """Control catalogues (frameworks as data: seed_data/catalogues/*.yaml)."""


@catalogue.command("load")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
def catalogue_load(files: tuple[Path, ...]) -> None:
    """Load or update catalogues: the given YAML FILES, or every default catalogue.  Idempotent (an
    unchanged catalogue writes nothing), and under the release lock like `registry db upgrade`."""
    with migrate.release_lock(current_app.config["DATABASE_URL"]), _sessions()() as session:
        try:
            if files:
                for path in files:
                    if not path.exists():
                        _fail(f"no such file: {path}")
                results = [load_catalogue(session, None, path) for path in files]
            else:
                results = load_default_catalogues(session)
            session.commit()
        except DomainError as err:
            session.rollback()
            _fail(_describe(err))
    for framework, counts in results:
        click.echo(f"{framework.key}\t{framework.name}\t{counts['added']} added, {counts['updated']} updated, "
                   f"{counts['retired']} retired")


@catalogue.command("list")
def catalogue_list() -> None:
    """One line per framework: key, name, live controls."""
    with current_app.extensions["registry.sessions"][1]() as session:
        rows = session.execute(
            select(Framework.key, Framework.name, Framework.active, func.count(Control.id))
            .outerjoin(Control, (Control.framework_id == Framework.id) & Control.retired.is_(False))
            .group_by(Framework.id).order_by(Framework.position, Framework.id)
        ).all()
    for key, name, active, n in rows:
        click.echo(f"{key}\t{name}\t{n} controls\t{'active' if active else 'inactive'}")


@main.group()
def portfolio() -> None:
    """The portfolio dashboard's per-system state cache."""


@portfolio.command("rebuild")
@click.option("--queue", "queued", is_flag=True, help="Run it on a worker (needs REDIS_URL); follow it with "
              "`registry jobs list`.")
def portfolio_rebuild(queued: bool) -> None:
    """Recompute every system's cached state (recommendation, decision, blockers) from scratch."""
    if queued:
        _queue_rebuild()
        return
    with _sessions()() as session:
        started = time.perf_counter()
        count = rebuild_all(session)
        session.commit()
    click.echo(f"Recomputed the portfolio state of {count} systems in {time.perf_counter() - started:.1f} s.")


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_name", help="A shipped layout's key or a saved mapping's name (default: "
              "recognised from the file's headers).")
@click.option("--mapping-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A mapping as YAML (e.g. the printed suggestion, edited).")
@click.option("--save-mapping", "save_mapping_as", help="Save the mapping used under this name, for files of the same layout.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@click.option("--only-valid", is_flag=True, help="Import the valid rows and skip the rows with errors (listed).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every problem (row, column, severity, message) to this CSV file.")
@click.option("--sheet", help="The Excel sheet to read (default: the first).")
def import_file(path: Path, mapping_name: str | None, mapping_file: Path | None, save_mapping_as: str | None,
                dry_run: bool, only_valid: bool, report: Path | None, sheet: str | None) -> None:
    """Import an AI inventory from a CSV or Excel file: create new records, update changed ones
    (matched on their external key), leave the rest.  All or nothing unless --only-valid."""
    try:
        table = read_table(path.read_bytes(), path.name, sheet)
    except ImportFileError as err:
        _fail(str(err))
    with _sessions()() as session:
        try:
            if mapping_file is not None:
                try:
                    mapping = yaml.safe_load(mapping_file.read_text(encoding="utf-8"))
                except (yaml.YAMLError, UnicodeDecodeError) as err:
                    _fail(f"{mapping_file} is not a YAML mapping: {err}")
                if not isinstance(mapping, dict):
                    _fail(f"{mapping_file} is not a YAML mapping (columns, values, key).")
                layout = (save_mapping_as or mapping_file.stem)[:120]
            else:
                mapping, layout = resolve_mapping(session, table, mapping_name)
        except UnknownLayout as err:
            click.echo(yaml.safe_dump(err.suggestion, sort_keys=False, allow_unicode=True), err=True)
            _fail(f"{err} Write the suggestion to a file, correct it, and run again with --mapping-file FILE "
                  "--save-mapping NAME.")
        problems = check_mapping(mapping, table.headers)
        if problems:
            _fail(f"the mapping “{layout}” does not fit {path.name}: " + " ".join(problems))
        if mapping_file is not None and not save_mapping_as and not dry_run:
            _fail("name the mapping with --save-mapping NAME: records are matched on it when a file of this "
                  "layout is imported again (try --dry-run first)")
        started = time.perf_counter()
        plan = plan_import(session, table, mapping, layout=layout)
        counts = plan.counts
        click.echo(f"{path.name}: layout {layout}; {counts['rows']} rows: {counts['create']} to create, "
                   f"{counts['update']} to update, {counts['unchanged']} unchanged, {counts['errors']} with errors, "
                   f"{counts['warnings']} with warnings, {counts['flagged']} flagged for missing fields.")
        for note in plan.notes:
            click.echo(f"  note: {note}")
        shown = [(r.row, *p) for r in plan.rows for p in r.problems if p[0] == "error"][:20]
        for row, _severity, column, message in shown:
            click.echo(f"  row {row}, column “{column}”: {message}", err=True)
        if report is not None:
            report.write_text(plan.problems_csv(), encoding="utf-8")
            click.echo(f"Wrote the problems to {report}.")
        if dry_run:
            click.echo("Dry run: nothing written.")
            return
        if not counts["create"] and not counts["update"] and plan.valid:
            click.echo("Nothing to change: every record is already as the file says.")
            return
        try:
            result = commit_import(session, None, plan, only_valid=only_valid,
                                   actor_label=f"registry import {path.name} (command line)")
            if save_mapping_as:  # saved with the import it served, or not at all
                save_mapping(session, None, save_mapping_as[:120], table.headers, mapping)
            session.commit()
        except ImportRefused as err:
            session.rollback()
            _fail(str(err))
        except IntegrityError:
            session.rollback()
            _fail("another import wrote some of the same records meanwhile; nothing was imported: run it again")
        if save_mapping_as:
            click.echo(f"Saved the mapping as “{save_mapping_as[:120]}”.")
    click.echo(f"Imported in {time.perf_counter() - started:.1f} s: {result['created']} created, {result['updated']} "
               f"updated, {result['unchanged']} unchanged, {result['skipped']} skipped, {result['flagged']} flagged "
               "for missing fields.")


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option("--checkpoint", "kept", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A checkpoint printed by `registry audit checkpoint` and kept outside the database.")
def audit_verify(kept: Path | None) -> None:
    """Check the whole hash chain (name the first broken event), the signatures, every stored
    checkpoint, every decision's recorded head, and a kept checkpoint if given."""
    external = None
    if kept is not None:
        try:
            external = parse_checkpoint(kept.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, OSError) as err:
            _fail(f"{kept} is not a checkpoint file: {err}")
    with current_app.extensions["registry.sessions"][1]() as session:
        if session.get_bind().dialect.name == "postgresql":  # one snapshot for every query below
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        started = time.perf_counter()
        report = verify_chain(session)
        signatures = verify_signatures(session, external)
        heads = recorded_heads_missing(session)
        elapsed = time.perf_counter() - started
    if not report.ok:
        click.echo(f"Audit chain BROKEN at event #{report.broken_seq}: {report.problem} "
                   f"({report.checked} events before it verified).", err=True)
    if signatures.first_missing is not None:
        click.echo(f"Audit chain BROKEN: events are missing from #{signatures.first_missing} on.", err=True)
    for problem in [*signatures.problems, *heads]:
        click.echo(f"Audit chain BROKEN: {problem}.", err=True)
    if report.ok and signatures.ok and not heads:
        kept_text = f"; the kept checkpoint #{external['number']} matches" if external else ""
        if not report.checked:
            click.echo(f"Audit chain empty: no events yet; {signatures.checkpoints} checkpoints hold{kept_text}.")
            return
        click.echo(f"Audit chain intact: {report.checked} events verified in {elapsed:.2f} s; every event is signed "
                   f"by the audit key or covered by a signed checkpoint; {signatures.checkpoints} checkpoints hold; "
                   f"every decision's recorded chain head is there{kept_text}.")
        return
    sys.exit(1)


@audit.command("checkpoint")
@click.option("--show", is_flag=True, help="Print the newest stored checkpoint instead of writing one.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the checkpoint to this file (refused if it exists).")
@click.option("--adopt-unsigned", is_flag=True,
              help="Once, after upgrading from before audit signatures: sign the events written before the key "
                   "(only when the chain's links hold and no checkpoint was ever written).")
def audit_checkpoint(show: bool, output: Path | None, adopt_unsigned: bool) -> None:
    """Sign the chain as it stands now and print the checkpoint (JSON) for keeping outside the
    database, e.g. in a ticket or a write-once bucket; `registry audit verify --checkpoint FILE`
    checks the chain against it later.  Refused when events since the last checkpoint do not
    carry valid signatures (nothing is signed over an edit made without the key)."""
    handle = None
    if output is not None:
        try:
            handle = output.open("x", encoding="utf-8")  # before anything is signed: refused if it exists
        except FileExistsError:
            _fail(f"{output} exists; give a new file name")
        except OSError as err:
            _fail(f"cannot write {output}: {err.strerror or err}")
    try:
        if show:
            with current_app.extensions["registry.sessions"][1]() as session:
                checkpoint = newest_checkpoint(session)
            if checkpoint is None:
                _fail("no checkpoint has been written yet; run `registry audit checkpoint` without --show")
        else:
            with _sessions()() as session:
                if adopt_unsigned:
                    report = verify_chain(session)
                    if not report.ok:
                        _fail(f"the chain is broken at event #{report.broken_seq} ({report.problem}); nothing adopted")
                try:
                    checkpoint = write_checkpoint(session, "adopted" if adopt_unsigned else "manual",
                                                  adopt_unsigned=adopt_unsigned)
                except UnsignedChain as err:
                    _fail(f"not signed: {err}")
                session.commit()
        text_ = json.dumps(checkpoint.document(), indent=2)
        if handle is not None:
            handle.write(text_ + "\n")
        click.echo(text_)
    finally:
        if handle is not None:
            handle.close()
            if output.stat().st_size == 0:
                output.unlink()


@main.group("files")
def files_group() -> None:
    """The file store (evidence files): FILE_STORE_URL, the database unless it names an S3 bucket."""


@files_group.command("migrate")
@click.option("--delete-files", is_flag=True,
              help="Once the move is committed, delete the moved files from EVIDENCE_DIR.")
def files_migrate(delete_files: bool) -> None:
    """Move the evidence files still in EVIDENCE_DIR into the file store, each checked against the
    SHA-256 recorded when it was uploaded; a missing or changed file is named and left as it is (exit 1)."""
    directory = Path(current_app.config["EVIDENCE_DIR"])
    with _sessions()() as session:
        try:
            result = migrate_evidence_files(session, directory)
            session.commit()
        except (DomainError, StoreConfigError) as err:
            session.rollback()
            _fail(str(err))
    if not result.moved and not result.problems:
        click.echo("No evidence files left to move: every evidence file is in the file store.")
        return
    if result.moved:
        click.echo(f"Moved {len(result.moved)} evidence files from {directory} into the file store "
                   f"({result.stored_bytes / 1024 / 1024:.1f} MB stored; the same content is stored once).")
    if delete_files:
        for path in result.paths:
            path.unlink(missing_ok=True)
        click.echo(f"Deleted {len(result.paths)} moved files from {directory}.")
    for problem in result.problems:
        click.echo(f"Not moved: {problem}.", err=True)
    if result.problems:
        sys.exit(1)


@files_group.command("verify")
def files_verify() -> None:
    """Re-hash every stored file and check every evidence file's bytes are in the store (exit 1 if not)."""
    with current_app.extensions["registry.sessions"][1]() as session:
        if session.get_bind().dialect.name == "postgresql":  # one snapshot for every query below
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        try:
            result = verify_files(session)
        except StoreConfigError as err:
            _fail(str(err))
    click.echo(f"Checked {result.blobs} stored files ({result.blob_bytes / 1024 / 1024:.1f} MB): "
               f"{result.blobs - len(result.damaged)} intact, {len(result.damaged)} damaged. Evidence files: "
               f"{result.evidence_files} in the store, {len(result.missing_blobs)} missing, "
               f"{len(result.not_migrated)} not yet moved from EVIDENCE_DIR.")
    for problem in result.problems:
        click.echo(f"Problem: {problem}.", err=True)
    if not result.ok:
        sys.exit(1)


@main.group()
def export() -> None:
    """Exports for operators (the same files as the web pages' export links)."""


@export.command("inventory")
@click.option("--format", "fmt", required=True, type=click.Choice(["xlsx", "csv"]),
              help="xlsx: systems, controls and decisions sheets; csv: the systems sheet.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="File to write.")
@click.option("--q", default="", help="Search text, as the inventory's search box.")
@click.option("--business-unit", multiple=True, help="Only this business unit (repeatable).")
@click.option("--tier", multiple=True, type=click.Choice(["low", "medium", "high", "unacceptable"]))
@click.option("--stage", multiple=True, type=click.Choice(["idea", "pilot", "production", "retired"]))
def export_inventory(fmt: str, output: Path, q: str, business_unit: tuple[str, ...], tier: tuple[str, ...],
                     stage: tuple[str, ...]) -> None:
    """Write the inventory export to a file, audited; nothing is left behind on an error."""
    target = output.expanduser().absolute()
    if target.is_dir():
        _fail(f"{output} is a directory; give a file name")
    if not target.parent.is_dir():
        _fail(f"no such directory: {target.parent}")
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        _fail(f"cannot write to {output}")
    args = MultiDict([("q", q), *[("business_unit", v) for v in business_unit], *[("tier", v) for v in tier],
                      *[("stage", v) for v in stage]])
    filters = InventoryFilters.from_args(args)
    today = utcnow().date()
    write, read = _sessions(), current_app.extensions["registry.sessions"][1]
    with write() as session:
        refresh_due_states(session, today)
        session.commit()
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, read() as session:
            result = write_export(session, None, filters, fmt, out, today=today)
        with write() as session:
            record_event(session, None, "inventory.export", "inventory", None, summary=result.summary(),
                         after=result.audit_after(filters), actor_label="command line (registry export)")
            session.commit()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(part, 0o666 & ~umask)  # as a plain open() would have made it
        os.replace(part, target)
    except BaseException as err:
        Path(part).unlink(missing_ok=True)
        if isinstance(err, OSError):
            _fail(f"cannot write {output}: {err.strerror or err}")
        raise
    counts = ", ".join(f"{n} {title.lower()}" for title, n in result.rows.items())
    click.echo(f"Wrote {output} ({counts}).")


@main.group()
def report() -> None:
    """Audit PDFs of recorded decisions: list, export, verify, issue, worker."""


def _report_limits():

    return RenderLimits.from_config(current_app.config)


@report.command("list")
def report_list() -> None:
    """One line per recorded decision: decision id, system id, system name, verdict, date (tab-separated)."""
    with current_app.extensions["registry.sessions"][1]() as session:
        for decision_id, system_id, name, verdict, decided_at in list_decisions(session):
            clean = " ".join(name.split())  # a tab or newline in a name must not break the columns
            click.echo(f"{decision_id}\t{system_id}\t{clean}\t{verdict.label}\t{decided_at.date().isoformat()}")


@report.command("export")
@click.argument("decision_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the PDF.")
def report_export(decision_id: int, output: Path) -> None:
    """Write the stored audit PDF of DECISION_ID (rendering and storing it first if it has none)."""
    target = output.expanduser().absolute()
    if not target.parent.is_dir():
        _fail(f"no such directory: {target.parent}")
    with _sessions()() as session:
        try:
            decision = get_decision(session, decision_id)
            report = ensure_report(session, decision, _report_limits())
            data, doc_id = report.pdf, report.document_id
            record_event(session, None, "report.export", "decision", decision.id, system_id=decision.system_id,
                         summary=f"Exported the audit PDF {doc_id} of decision #{decision.id}",
                         after={"document_id": doc_id, "pdf_sha256": report.sha256},
                         actor_label="command line (registry report export)")
            # Written aside, audited, then renamed: no file without its event, no event without a file.
            part = target.with_name(f".{target.name}.part")
            try:
                part.write_bytes(data)
                session.commit()
                part.replace(target)
            except OSError as err:
                part.unlink(missing_ok=True)
                session.rollback()
                _fail(f"cannot write {output}: {err.strerror or err}")
            except BaseException:
                part.unlink(missing_ok=True)
                raise
        except DomainError as err:
            session.rollback()
            _fail(_describe(err))
    click.echo(f"Wrote {output}: {doc_id}, {len(data):,} bytes.")


@report.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def report_verify(file: Path) -> None:
    """Check FILE against its printed hash and the registry's record; exit 0 only if authentic and unaltered."""
    with current_app.extensions["registry.sessions"][1]() as session:
        result = verify_pdf(session, file.read_bytes())
    for check in result.checks:
        click.echo(f"[{'PASS' if check.ok else 'FAIL'}] {check.label}: {check.detail}")
    click.echo(result.verdict)  # authentic ones end with the record status: current, superseded or expired
    if not result.authentic:
        sys.exit(1)


@report.command("issue")
def report_issue() -> None:
    """Render and store the audit PDF of every decision that has none yet."""
    with _sessions()() as session:
        try:
            issued = issue_missing(session, _report_limits())
            session.commit()
        except DomainError as err:
            session.rollback()
            _fail(_describe(err))
    click.echo(f"Issued {len(issued)} audit PDFs.")


# -- long jobs: the worker, reaping, retention (docs/jobs.md) ---------------------------------------
def _job_settings() -> JobSettings:
    return JobSettings.from_config(current_app.config)


def _queue_rebuild() -> None:
    settings = _job_settings()
    if not settings.redis_url:
        _fail("REDIS_URL is not set, so there is no worker to run it: run `registry portfolio rebuild` without --queue")
    app = current_app._get_current_object()
    with _sessions()() as session:
        job = create_rebuild_job(session, backend=settings.backend)
        try:
            start_rebuild_job(session, job, export_run(app))
        except QueueUnavailable as err:
            session.rollback()
            _fail(err.message)
    click.echo(f"Queued job #{job.id}: rebuild the portfolio state of {job.total} systems. "
               "Follow it with `registry jobs list`.")


@main.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for every long job (audit-PDF ZIPs, inventory workbooks, imports, rebuilds;
    needs REDIS_URL).  It reaps silent jobs at start and every minute and applies the retention
    period hourly."""
    if not current_app.config.get("REDIS_URL"):
        _fail("REDIS_URL is not set; without it, long jobs run inside the web server and need no worker")
    work(current_app._get_current_object(), burst=burst)


@report.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.pass_context
def report_worker(ctx: click.Context, burst: bool) -> None:
    """The same as `registry worker` (kept for existing deployments)."""
    ctx.invoke(worker, burst=burst)


@main.group("jobs")
def jobs_group() -> None:
    """Long jobs: list them, reap the silent ones, apply the retention period."""


@jobs_group.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def jobs_list(limit: int) -> None:
    """The newest jobs: id, kind, status, progress, requester, last heartbeat, message (tab-separated)."""
    with current_app.extensions["registry.sessions"][1]() as session:
        for job in session.scalars(select(ExportJob).order_by(ExportJob.id.desc()).limit(limit)):
            beat = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "-"
            who = job.requested_by.email if job.requested_by else "command line"
            click.echo("\t".join((str(job.id), job.kind, job.status, f"{job.done}/{job.total}", job.progress or "-",
                                  who, beat, " ".join((job.error or "").split())[:200] or "-")))


@jobs_group.command("reap")
def jobs_reap() -> None:
    """Mark failed the running jobs whose heartbeat stopped and the queued ones no worker started."""
    with _sessions()() as session:
        count = reap(session, _job_settings())
        session.commit()
    click.echo(f"Marked {count} job{'' if count == 1 else 's'} failed.")


@jobs_group.command("purge")
def jobs_purge() -> None:
    """Apply the retention period: remove the files of exports older than EXPORT_RETENTION_DAYS
    (marked expired) and staged imports older than a day."""
    settings = _job_settings()
    with _sessions()() as session:
        counts = purge(session, current_app.extensions["registry.files"], settings)
        session.commit()
    click.echo(f"Expired {counts['expired']} export(s) older than {settings.retention_days} days, removed "
               f"{counts['staged']} staged import(s) older than a day; {counts['files']} file(s) deleted from the store.")


if __name__ == "__main__":  # pragma: no cover
    main()

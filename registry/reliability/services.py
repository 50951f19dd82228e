"""Agent reliability: record evaluation trials (CSV, API, demo), set the pass^k release gate and the
workflow's step rates, and summarise them (per task and overall pass@1 and pass^k, the gate, the
compounded success).  The arithmetic is ``registry.reliability.passk``.

Trials are written in bulk (Core), all or nothing: every row is checked first and a bad one refuses
the whole upload with each row's problem.  (system, task, trial) is unique, so sending the same
upload again changes nothing and a different outcome corrects the earlier one.  Bulk writes bypass
the state hooks, so the system's state is refreshed here.  ``actor`` None is the system itself (the
demo data); the permission check then does not apply.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import can_record_trials, can_set_reliability_gate, require
from registry.db import utcnow
from registry.errors import ValidationFailed
from registry.inventory.services import system_for_update
from registry.reliability import passk
from registry.reliability.models import EvalTrial, ReliabilityGate, trial_tallies
from registry.reliability.schemas import MAX_STEPS, MAX_TRIALS
from registry.state.cache import refresh_states

TASK_MAX = 200
TRUE = frozenset({"1", "true", "yes", "y", "pass", "passed", "t"})
FALSE = frozenset({"0", "false", "no", "n", "fail", "failed", "f"})
COLUMNS = ("task_id", "trial", "passed")
NOT_ENOUGH = "not enough trials"
NO_GATE = "no gate set"


# -- trials ------------------------------------------------------------------------------------

def _passed(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
    return None


def _trial(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{1,9}\s*", value):
        number = int(value)
    else:
        return None
    return number if 1 <= number <= 2**31 - 1 else None


def check_trials(rows: Sequence[Mapping], *, first_row: int = 1) -> dict[tuple[str, int], bool]:
    """Every row's (task id, trial) -> passed, or ValidationFailed naming each bad row ("row N",
    counted from ``first_row``: 2 for a CSV file's first line under its header)."""
    if not rows:
        raise ValidationFailed("There are no trials to record.", errors={"trials": ["Send at least one trial."]})
    if len(rows) > MAX_TRIALS:
        raise ValidationFailed(f"At most {MAX_TRIALS:,} trials at a time; this has {len(rows):,}. Split it.",
                               errors={"trials": [f"At most {MAX_TRIALS:,} trials at a time."]})
    errors: dict[str, list[str]] = {}
    out: dict[tuple[str, int], bool] = {}
    where: dict[tuple[str, int], int] = {}
    for number, row in enumerate(rows, start=first_row):
        if not isinstance(row, Mapping):
            errors[f"row {number}"] = ["A trial is an object with task_id, trial and passed."]
            continue
        problems = []
        task = row.get("task_id")
        task = task.strip() if isinstance(task, str) else task
        if not isinstance(task, str) or not task:
            problems.append("task_id is missing.")
        elif len(task) > TASK_MAX or "\x00" in task:
            problems.append(f"task_id is longer than {TASK_MAX} characters." if len(task) > TASK_MAX
                            else "task_id contains a NUL character.")
        trial = _trial(row.get("trial"))
        if trial is None:
            problems.append(f"trial must be a whole number of 1 or more, not “{str(row.get('trial'))[:20]}”.")
        passed = _passed(row.get("passed"))
        if passed is None:
            problems.append(f"passed must be true or false (1/0, yes/no, pass/fail), not “{str(row.get('passed'))[:20]}”.")
        if not problems:
            key = (task, trial)
            if key in out and out[key] != passed:
                problems.append(f"task {task} trial {trial} is also row {where[key]}, with the other outcome.")
            else:
                out[key], where[key] = passed, where.get(key, number)
        if problems:
            errors[f"row {number}"] = problems
    if errors:
        shown = list(errors.items())[:5]
        more = f" (and {len(errors) - 5} more rows)" if len(errors) > 5 else ""
        raise ValidationFailed(f"{len(errors)} row{'' if len(errors) == 1 else 's'} cannot be recorded, so nothing "
                               "was: " + " ".join(f"{k.capitalize()}: {' '.join(v)}" for k, v in shown) + more,
                               errors=errors)
    return out


def read_trials_csv(data: bytes) -> list[dict]:
    """A CSV file's rows as ``{task_id, trial, passed}`` (header names in any case; other columns are
    ignored), or ValidationFailed saying what is wrong with the file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValidationFailed("The file is not UTF-8 text: save it as CSV (UTF-8) and upload it again.",
                               errors={"file": ["Not UTF-8 text."]}) from err
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            raise ValidationFailed("The file is empty: it needs a header line (task_id, trial, passed) and one line "
                                   "per trial.", errors={"file": ["The file is empty."]})
        names = [h.strip().lower() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise ValidationFailed(f"The header lacks the column{'' if len(missing) == 1 else 's'} "
                                   f"{', '.join(missing)}: it needs task_id, trial and passed.",
                                   errors={"file": [f"Missing column: {c}." for c in missing]})
        at = {c: names.index(c) for c in COLUMNS}
        rows = []
        for line in reader:
            if not any(cell.strip() for cell in line):
                continue
            rows.append({c: line[i] if i < len(line) else "" for c, i in at.items()})
            if len(rows) > MAX_TRIALS:
                break
    except csv.Error as err:
        raise ValidationFailed(f"The file is not a readable CSV file ({err}).", errors={"file": [str(err)]}) from err
    return rows


@dataclass(frozen=True)
class TrialUpload:
    received: int
    added: int
    corrected: int
    unchanged: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.corrected)


def record_trials(session: Session, actor: User | None, system_id: int, rows: Sequence[Mapping],
                  now: datetime | None = None, *, first_row: int = 1, source: str = "API") -> TrialUpload:
    """Record evaluation trials (rows of task_id, trial ≥ 1, passed), all or nothing; one audit event
    per upload that changed something, with its counts.  ``now`` dates them (the demo's past)."""
    system = system_for_update(session, system_id)
    if actor is not None:
        require(can_record_trials(actor, system),
                "Only the system's owners, compliance officers and admins can record its evaluation trials.")
    wanted = check_trials(rows, first_row=first_row)
    at = now or utcnow()
    stored = {(task, trial): (id_, passed) for id_, task, trial, passed in session.execute(
        select(EvalTrial.id, EvalTrial.task_id, EvalTrial.trial, EvalTrial.passed)
        .where(EvalTrial.system_id == system.id))}
    new, fixes = [], []
    for (task, trial), passed in wanted.items():
        if (task, trial) not in stored:
            new.append({"system_id": system.id, "task_id": task, "trial": trial, "passed": passed, "recorded_at": at,
                        "recorded_by_id": actor.id if actor is not None else None})
        elif stored[(task, trial)][1] != passed:
            fixes.append({"row_id": stored[(task, trial)][0], "passed": passed})
    result = TrialUpload(received=len(rows), added=len(new), corrected=len(fixes),
                         unchanged=len(wanted) - len(new) - len(fixes))
    if not result.changed:
        return result
    if new:
        session.execute(insert(EvalTrial), new)
    for fix in fixes:  # few: a correction is the exception
        session.execute(update(EvalTrial).where(EvalTrial.id == fix["row_id"])
                        .values(passed=fix["passed"], recorded_at=at,
                                recorded_by_id=actor.id if actor is not None else None))
    tasks = len({task for task, _ in wanted})
    record_event(session, actor, "reliability.trials", "system", system.id, system_id=system.id, at=now,
                 summary=f"Recorded {len(wanted):,} evaluation trials of {tasks:,} tasks ({source}): {result.added:,} "
                         f"added, {result.corrected:,} corrected, {result.unchanged:,} unchanged",
                 after={"trials_added": result.added, "trials_corrected": result.corrected,
                        "trials_unchanged": result.unchanged, "tasks": tasks, "source": source})
    refresh_states(session, [system.id])
    return result


# -- the gate and the step rates -------------------------------------------------------------------

def gate_text(k: int | None, threshold: float | None) -> str:
    if k is None or threshold is None:
        return NO_GATE
    return f"pass^{k} ≥ {percent(threshold)}"


def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return NOT_ENOUGH
    text = f"{value * 100:.{digits}f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _gate_row(session: Session, system_id: int) -> ReliabilityGate | None:
    return session.get(ReliabilityGate, system_id, populate_existing=True)


def set_gate(session: Session, actor: User | None, system_id: int, k: int | None, threshold: float | None, *,
             now: datetime | None = None) -> ReliabilityGate | None:
    """The release gate: pass^k must reach ``threshold`` (0–1) for ``k`` (1–8); both None remove it.
    Admins and compliance officers not named on the system set it (it can block GO)."""
    system = system_for_update(session, system_id)
    if actor is not None:
        require(can_set_reliability_gate(actor, system), "Only compliance officers who are not named on the system, "
                                                         "and admins, set its release gate.")
    errors = {}
    if (k is None) != (threshold is None):
        errors["_schema"] = ["Give both k and the threshold, or neither to remove the gate."]
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= passk.MAX_K):
        errors["k"] = [f"k is a whole number from 1 to {passk.MAX_K}."]
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)
                                  or not math.isfinite(threshold) or not 0 <= threshold <= 1):
        errors["threshold"] = ["The threshold is between 0 % and 100 %."]
    if errors:
        raise ValidationFailed("Some fields need attention.", errors=errors)
    gate = _gate_row(session, system.id)
    current = (gate.k, gate.threshold) if gate else (None, None)
    if current == (k, threshold):
        return gate
    before = gate_text(gate.k, gate.threshold) if gate else NO_GATE
    after = gate_text(k, threshold)
    if gate is None:
        gate = ReliabilityGate(system_id=system.id, step_rates=[])
        session.add(gate)
    gate.k, gate.threshold = k, (float(threshold) if threshold is not None else None)
    gate.updated_at, gate.updated_by_id = now or utcnow(), actor.id if actor is not None else None
    session.flush()
    record_event(session, actor, "reliability.gate", "system", system.id, system_id=system.id, at=now,
                 summary=f"Release gate: {after}" if k is not None else "Removed the release gate",
                 before={"release_gate": before}, after={"release_gate": after})
    return gate


def clear_gate(session: Session, actor: User | None, system_id: int, *, now: datetime | None = None) -> None:
    set_gate(session, actor, system_id, None, None, now=now)


STEP_TIMES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*[×x*]\s*(\d{1,4})\s*$", re.IGNORECASE)


def parse_step_rates(text: str) -> list[float]:
    """"0.95 × 20", "95% x 20", or a list "0.99, 0.95, 90%" -> the rates (0–1); ValueError with the
    reason otherwise.  An empty text is no steps."""
    text = (text or "").strip()
    if not text:
        return []
    if match := STEP_TIMES.match(text):
        rate = float(match.group(1)) / (100 if match.group(2) else 1)
        times = int(match.group(3))
        if not 1 <= times <= MAX_STEPS:
            raise ValueError(f"A workflow has between 1 and {MAX_STEPS} steps.")
        rates = [rate] * times
    else:
        rates = []
        for part in re.split(r"[,;\s]+", text):
            if not part:
                continue
            pct = part.endswith("%")
            try:
                rates.append(float(part.rstrip("%")) / (100 if pct else 1))
            except ValueError:
                raise ValueError(f"“{part[:20]}” is not a rate: write 0.95 or 95%, e.g. “0.95 × 20” or "
                                 "“0.99, 0.95, 0.9”.") from None
    if len(rates) > MAX_STEPS:
        raise ValueError(f"At most {MAX_STEPS} steps.")
    if any(not math.isfinite(r) or not 0 <= r <= 1 for r in rates):
        raise ValueError("Each step's success rate is between 0 and 1 (0 % and 100 %).")
    return rates


def steps_text(rates: Sequence[float]) -> str:
    """The rates as a person writes them: "95% × 20", or "99%, 95%, 90%"."""
    if not rates:
        return ""
    if len(set(rates)) == 1:
        return f"{percent(rates[0], 2)} × {len(rates)}"
    return ", ".join(percent(r, 2) for r in rates)


def compounded_sentence(rates: Sequence[float]) -> str | None:
    """"20 steps at 95% each succeed end to end 35.8% of the time" (None without steps)."""
    total = passk.compounded(rates)
    if total is None:
        return None
    if len(set(rates)) == 1:
        steps = f"{len(rates)} step{'' if len(rates) == 1 else 's'} at {percent(rates[0], 2)} each"
    else:
        steps = f"{len(rates)} steps at {steps_text(rates)}"
    return f"{steps} succeed{'s' if len(rates) == 1 else ''} end to end {percent(total)} of the time"


def set_step_rates(session: Session, actor: User | None, system_id: int, rates: Iterable[float], *,
                   now: datetime | None = None) -> ReliabilityGate:
    """The workflow's per-step success rates (0–1, in order; empty removes them), for its compounded
    success.  Whoever records the trials sets them; they inform, they do not gate."""
    system = system_for_update(session, system_id)
    if actor is not None:
        require(can_record_trials(actor, system),
                "Only the system's owners, compliance officers and admins can set its workflow's step rates.")
    rates = list(rates)
    if len(rates) > MAX_STEPS or any(isinstance(r, bool) or not isinstance(r, int | float) or not math.isfinite(r)
                                     or not 0 <= r <= 1 for r in rates):
        raise ValidationFailed("Some fields need attention.", errors={"step_rates": [
            f"At most {MAX_STEPS} steps, each a success rate between 0 and 1."]})
    rates = [float(r) for r in rates]
    gate = _gate_row(session, system.id)
    before = list(gate.step_rates or []) if gate else []
    if before == rates:
        return gate
    if gate is None:
        gate = ReliabilityGate(system_id=system.id)
        session.add(gate)
    gate.step_rates = rates
    gate.updated_at, gate.updated_by_id = now or utcnow(), actor.id if actor is not None else None
    session.flush()
    record_event(session, actor, "reliability.steps", "system", system.id, system_id=system.id, at=now,
                 summary=(compounded_sentence(rates) or "Removed the workflow's step rates").capitalize(),
                 before={"step_rates": steps_text(before) or None,
                         "compounded_success": percent(passk.compounded(before)) if before else None},
                 after={"step_rates": steps_text(rates) or None,
                        "compounded_success": percent(passk.compounded(rates)) if rates else None})
    return gate


# -- the summary -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskRow:
    task_id: str
    trials: int
    passed: int
    pass_at_1: float
    curve: list[tuple[int, float | None]]


@dataclass(frozen=True)
class GateStatus:
    k: int | None
    threshold: float | None
    status: str  # no_gate, met, not_met, not_enough_trials
    measured: float | None
    no_trials: bool = False

    @property
    def text(self) -> str:
        if self.status == "no_gate":
            return "No gate set."
        gate = gate_text(self.k, self.threshold)
        if self.status == "not_enough_trials" and self.no_trials:
            return f"Gate {gate}: no trials recorded yet, so it cannot be met."
        if self.status == "not_enough_trials":
            return f"Gate {gate}: not enough trials (every task needs at least {self.k} trials)."
        verdict = "met" if self.status == "met" else "not met"
        return f"Gate {gate}: {verdict}, measured {percent(self.measured)}."


@dataclass(frozen=True)
class ReliabilitySummary:
    tasks: list[TaskRow]
    trials: int
    pass_at_1: float | None
    curve: list[tuple[int, float | None]]
    gate: GateStatus
    step_rates: list[float]
    compounded: float | None
    compounded_sentence: str | None

    def record(self) -> dict:
        """The API's shape (``ReliabilitySummarySchema``)."""
        def points(curve):
            return [{"k": k, "value": v} for k, v in curve]
        return {"tasks": len(self.tasks), "trials": self.trials, "pass_at_1": self.pass_at_1,
                "curve": points(self.curve),
                "per_task": [{"task_id": t.task_id, "trials": t.trials, "passed": t.passed, "pass_at_1": t.pass_at_1,
                              "curve": points(t.curve)} for t in self.tasks],
                "gate": {"k": self.gate.k, "threshold": self.gate.threshold, "status": self.gate.status,
                         "measured": self.gate.measured, "text": self.gate.text},
                "step_rates": self.step_rates, "compounded": self.compounded}


def gate_status(tallies: Sequence[passk.TaskTally], k: int | None, threshold: float | None) -> GateStatus:
    if k is None or threshold is None:
        return GateStatus(None, None, "no_gate", None)
    met, measured = passk.gate_met(tallies, k, threshold)
    status = "not_enough_trials" if measured is None else "met" if met else "not_met"
    return GateStatus(k, threshold, status, measured, no_trials=not tallies)


def reliability_summary(session: Session, system_id: int) -> ReliabilitySummary:
    """Per task and overall pass@1 and pass^k (k = 1..8; None: not enough trials), the gate's status
    and the compounded success of the step rates."""
    tallies = trial_tallies(session, [system_id])[system_id]
    gate = session.get(ReliabilityGate, system_id)
    rates = list(gate.step_rates or []) if gate else []
    rows = [TaskRow(t.task_id, t.trials, t.passed, t.passed / t.trials, passk.curve([t])) for t in tallies]
    return ReliabilitySummary(
        tasks=rows, trials=sum(t.trials for t in tallies), pass_at_1=passk.pass_at_1(tallies),
        curve=passk.curve(tallies), gate=gate_status(tallies, gate.k if gate else None, gate.threshold if gate else None),
        step_rates=rates, compounded=passk.compounded(rates), compounded_sentence=compounded_sentence(rates))

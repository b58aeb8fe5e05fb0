"""Parallel department checks (后台并联审核): create one check per department, ask every
department at once with a deadline, classify what came back, and let each department's
reviewer confirm, correct or ask for a document."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.applications.models import Application, PersonClaim, Status
from portal.core import audit
from portal.core.calendar import add_working_days
from portal.core.clock import today, utcnow
from portal.core.errors import Forbidden, InvalidTransition, ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.settings import current_version
from portal.extensions import db
from portal.verification.backends import Answer, PersonRef, get_source
from portal.verification.departments import Department
from portal.verification.fields import FACTS, REQUIRED, parse_fact
from portal.verification.models import CheckOutcome, CheckStatus, DepartmentCheck

OPEN_STATUSES = (Status.CHECKING, Status.SUPPLEMENT)


def reviewer_scope(user: User) -> sa.ColumnElement[bool]:
    """A department reviewer sees only their department's checks (SECURITY.md B1)."""
    if user.role is not Role.REVIEWER or user.department is None:
        return sa.false()
    return DepartmentCheck.department == user.department


def checks_of(app: Application) -> list[DepartmentCheck]:
    return list(
        db.session.scalars(
            sa.select(DepartmentCheck)
            .where(DepartmentCheck.application_id == app.id)
            .order_by(DepartmentCheck.id)
        )
    )


def start_checks(app: Application) -> list[DepartmentCheck]:
    """One check per department, then ask them all: at once, or through a background job
    when jobs run on Celery workers."""
    values = current_version("eligibility").values
    deadline = add_working_days(today(), values["check_working_days"])
    checks = [
        DepartmentCheck(
            application_id=app.id, department=d, status=CheckStatus.PENDING, deadline=deadline
        )
        for d in Department
    ]
    db.session.add_all(checks)
    db.session.flush()
    from portal import jobs

    if jobs.runs_async():
        # A worker asks the departments once the submission commits; until then the
        # status page shows each check as waiting for the department.
        jobs.enqueue("verification.run_checks", application_id=app.id)
    else:
        run_checks(app, checks)
    return checks


def _people(app: Application) -> list[PersonRef]:
    return [PersonRef(m.id_index, m.id_number, m.name) for m in app.members]


def run_checks(app: Application, checks: list[DepartmentCheck]) -> None:
    """Ask every department about the household at once, within one overall deadline."""
    source = get_source()
    people = _people(app)
    timeout = float(current_app.config["DEPARTMENT_TIMEOUT_SECONDS"])
    answers: dict[Department, Answer] = {}
    if source.concurrent:
        with ThreadPoolExecutor(max_workers=len(checks)) as pool:
            futures = {
                c.department: pool.submit(source.lookup, c.department, people, timeout)
                for c in checks
            }
            for dept, fut in futures.items():
                try:
                    answers[dept] = fut.result(timeout=timeout + 1)
                except FutureTimeout:
                    answers[dept] = Answer(dept, "error", source=source.name, error="timeout")
                except Exception as exc:  # a broken backend must not break the application
                    answers[dept] = Answer(dept, "error", source=source.name, error=str(exc)[:200])
    else:
        for c in checks:
            answers[c.department] = source.lookup(c.department, people, timeout)
    for c in checks:
        apply_answer(app, c, answers[c.department])
    db.session.flush()


def apply_answer(app: Application, check: DepartmentCheck, answer: Answer) -> None:
    check.source = answer.source
    check.fetched_at = utcnow()
    check.payload_hash = answer.payload_hash
    check.outcome = None
    if answer.status != "ok":
        check.status = CheckStatus.UNAVAILABLE
        check.error = (answer.error or "error")[:200]
        check.facts_json = "{}"
        check.findings_json = "[]"
        return
    check.error = None
    facts = {p.index: answer.facts[p.index] for p in _people(app) if p.index in answer.facts}
    findings = _findings(app, check.department, facts)
    check.facts_json = json.dumps(facts, sort_keys=True, ensure_ascii=False)
    check.findings_json = json.dumps(findings, ensure_ascii=False)
    if any(f["code"] == "no_record" for f in findings):
        check.status = CheckStatus.NO_DATA
    elif findings:
        check.status = CheckStatus.MISMATCH
    else:
        check.status = CheckStatus.MATCH


def _findings(app: Application, dept: Department, facts: dict[str, dict]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    declared = {m.id_index for m in app.members}
    for m in app.members:
        f = facts.get(m.id_index)
        if f is None:
            if dept in REQUIRED:
                found.append({"code": "no_record", "member": m.masked_id_number})
            continue
        if dept is Department.PUBLIC_SECURITY and f.get("registered_name") not in (None, m.name):
            found.append({"code": "name_differs", "member": m.masked_id_number})
        if dept is Department.CIVIL_AFFAIRS and f.get("spouse_index"):
            spouse = f["spouse_index"]
            if spouse not in declared:
                found.append({"code": "spouse_missing", "spouse": f.get("spouse_masked", "")})
                other = db.session.get(PersonClaim, spouse)
                if other is not None and other.application_id != app.id:
                    found.append(
                        {"code": "spouse_in_other_case", "spouse": f.get("spouse_masked", "")}
                    )
    return found


FINDING_TEXTS = {
    "no_record": _l("The department has no record of %(member)s."),
    "name_differs": _l("The name registered for %(member)s differs from the application."),
    "spouse_missing": _l("A spouse (%(spouse)s) is registered but not in the application."),
    "spouse_in_other_case": _l(
        "The spouse (%(spouse)s) is in another active application or tenancy."
    ),
}


def finding_text(finding: dict[str, Any]) -> str:
    params = {k: v for k, v in finding.items() if k != "code"}
    return str(FINDING_TEXTS[finding["code"]]) % params


def _require_reviewer(check: DepartmentCheck, reviewer: User) -> None:
    # re-read under a lock: two reviewers settling at once take turns
    db.session.scalars(
        sa.select(DepartmentCheck)
        .where(DepartmentCheck.id == check.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if reviewer.role is not Role.REVIEWER or reviewer.department is not check.department:
        raise Forbidden()
    if check.application.status not in OPEN_STATUSES:
        raise InvalidTransition()
    if check.settled:
        raise InvalidTransition(_l("This check is already settled."))


def confirm(check: DepartmentCheck, reviewer: User, note: str | None = None) -> None:
    """The reviewer accepts the department's answer as it is."""
    _require_reviewer(check, reviewer)
    if check.status in (CheckStatus.PENDING, CheckStatus.UNAVAILABLE):
        raise InvalidTransition(
            _l("The department has not answered: ask it again, or enter the facts yourself.")
        )
    if check.status in (CheckStatus.MISMATCH, CheckStatus.NO_DATA) and not (note or "").strip():
        raise ValidationFailed(
            _l("Say why you confirm data that differ from the application."), field="note"
        )
    _settle(check, reviewer, CheckOutcome.CONFIRMED, note)


def override(
    check: DepartmentCheck, reviewer: User, raw: dict[str, dict[str, str]], reason: str
) -> None:
    """The reviewer enters the facts (from a document or their own system), with a reason.

    ``raw`` is ``{person index: {fact name: text}}``; every value is parsed and checked.
    """
    _require_reviewer(check, reviewer)
    if len((reason or "").strip()) < 4:
        raise ValidationFailed(_l("Give the reason for the correction."), field="reason")
    members = {m.id_index for m in check.application.members}
    facts: dict[str, dict[str, Any]] = {}
    for index, values in raw.items():
        if index not in members:
            raise ValidationFailed(_l("Unknown household member."))
        parsed = {f.name: parse_fact(f, values.get(f.name)) for f in FACTS[check.department]}
        facts[index] = {k: v for k, v in parsed.items() if v is not None}
        # a corrected civil-affairs record keeps the link to the spouse it had
        old = check.facts.get(index, {})
        if check.department is Department.CIVIL_AFFAIRS and "spouse_index" in old:
            facts[index]["spouse_index"] = old["spouse_index"]
    check.facts_json = json.dumps(facts, sort_keys=True, ensure_ascii=False)
    _settle(check, reviewer, CheckOutcome.OVERRIDDEN, reason)


def _settle(
    check: DepartmentCheck, reviewer: User, outcome: CheckOutcome, note: str | None
) -> None:
    check.outcome = outcome
    check.reviewer_id = reviewer.id
    check.reviewed_at = utcnow()
    check.review_note = (note or "").strip() or None
    audit.record(
        "check." + outcome.value, actor=reviewer, obj=check, department=check.department.value
    )
    db.session.flush()
    maybe_all_settled(check.application)


def ask_again(check: DepartmentCheck, reviewer: User) -> None:
    """Repeat the question to a department that did not answer or had no record."""
    _require_reviewer(check, reviewer)
    run_checks(check.application, [check])
    audit.record("check.retry", actor=reviewer, obj=check, status=check.status.value)


def maybe_all_settled(app: Application) -> None:
    """When every department is settled and no document is outstanding, the officer decides."""
    from portal.applications import services as applications

    if app.status is not Status.CHECKING:
        return
    if all(c.settled for c in checks_of(app)):
        applications.checks_settled(app)


def settled_facts(app: Application) -> dict[str, dict[str, dict[str, Any]]]:
    return {c.department.value: c.facts for c in checks_of(app) if c.settled}


def request_document(check: DepartmentCheck, reviewer: User, *, document: str, reason: str):
    """The reviewer asks the resident for one document to settle ``check`` (补正)."""
    from portal.applications import services as applications

    _require_reviewer(check, reviewer)
    return applications.request_supplement(
        check.application, reviewer, document=document, reason=reason, check=check
    )

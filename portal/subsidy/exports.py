"""Subsidy exports, built by the exports module's job (``portal.exports.services``):

- ``subsidy_bank_file``: the bank disbursement file of a closed month, one row per
  household paid to a bank (award reference, account holder, bank, the whole account
  number, the net amount, the month). Its total is the run's "to the banks".
- ``subsidy_ledger``: every line of a month's run with its components.

Both stream in keyset batches of plain rows (memory stays flat at any size) and hold only
the asker's scope: an officer's, the households of their districts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from portal.accounts.models import District, User
from portal.accounts.roles import Role
from portal.core.crypto import protector
from portal.core.i18n import lazy_gettext as _l
from portal.exports.models import Export
from portal.exports.services import ExportKind, Progress, districts_scope
from portal.extensions import db
from portal.subsidy.models import RunStatus, SubsidyRun

BATCH = 5000
ACCOUNT_PURPOSE = "subsidy_awards.bank_account"
BANK_HEADER = (
    _l("Award reference"),
    _l("Account holder"),
    _l("Bank"),
    _l("Account number"),
    _l("Amount (yuan)"),
    _l("Month"),
)
LEDGER_HEADER = (
    _l("Award reference"),
    _l("District"),
    _l("Month"),
    _l("Line"),
    _l("Paid"),
    _l("Tier"),
    _l("Rate (yuan/m²)"),
    _l("Area paid for (m²)"),
    _l("Coefficient"),
    _l("Before the cap"),
    _l("Cap (rent)"),
    _l("Amount (yuan)"),
)


def _scope(user: User) -> dict[str, Any]:
    """Fixed when asked: the asker's districts (officers), and the month by default (the
    last closed one; the run page names its own)."""
    latest = db.session.scalar(
        sa.select(SubsidyRun.id)
        .where(SubsidyRun.status == RunStatus.CLOSED)
        .order_by(SubsidyRun.month.desc())
        .limit(1)
    )
    return {**districts_scope(user), "default_run_id": latest}


def _run(params: dict[str, Any]) -> SubsidyRun | None:
    run_id = params.get("run_id") or params.get("default_run_id")
    return db.session.get(SubsidyRun, run_id) if run_id else None


def _decimal(value) -> Decimal | None:
    """Stored hundredths as yuan: ``12345`` → ``Decimal("123.45")`` (exact)."""
    return None if value is None else Decimal(int(value)).scaleb(-2)


def _bank_count(params: dict[str, Any]) -> int:
    from portal.subsidy.services import bank_file_totals

    run = _run(params)
    if run is None or run.status is not RunStatus.CLOSED:
        return 0
    return bank_file_totals(run.id, params.get("districts"))[0]


def _bank_rows(params: dict[str, Any], export: Export) -> Iterator[Sequence[Any]]:
    """One row per award paid to a bank, by award, in keyset batches: the net of its lines
    (payment less recovery), when above zero."""
    run = _run(params)
    if run is None or run.status is not RunStatus.CLOSED:
        return
    run_id, month = run.id, run.month.strftime("%Y-%m")
    districts = set(params["districts"]) if params.get("districts") is not None else None
    progress = Progress(export)
    decrypt = protector().decrypt  # once, not per row (the column type would ask per value)
    last = 0
    while True:
        conn = db.session.connection()
        nets = conn.execute(
            sa.text(
                "SELECT award_id, sum(amount) FROM subsidy_payments "
                "WHERE run_id = :run AND channel = 'bank' AND award_id > :last "
                "GROUP BY award_id ORDER BY award_id LIMIT :n"
            ),
            {"run": run_id, "last": last, "n": BATCH},
        ).all()
        if not nets:
            progress.commit()
            return
        ids = [n[0] for n in nets]
        found = {
            row.id: row
            for row in conn.execute(
                sa.text(
                    "SELECT id, reference, payee_name, bank_name, bank_account, district_id "
                    "FROM subsidy_awards WHERE id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": ids},
            )
        }
        written = 0
        for award_id, net in nets:
            row = found[award_id]
            if int(net) <= 0 or (districts is not None and row.district_id not in districts):
                continue
            yield [
                row.reference,
                row.payee_name or "",
                row.bank_name or "",
                decrypt(bytes(row.bank_account), ACCOUNT_PURPOSE) if row.bank_account else "",
                _decimal(net),
                month,
            ]
            written += 1
        last = ids[-1]
        progress.add(written)


def _ledger_count(params: dict[str, Any]) -> int:
    run = _run(params)
    if run is None:
        return 0
    stmt = sa.text("SELECT count(*) FROM subsidy_payments WHERE run_id = :run")
    if params.get("districts") is not None:
        stmt = sa.text(
            "SELECT count(*) FROM subsidy_payments p JOIN subsidy_awards a "
            "ON a.id = p.award_id WHERE p.run_id = :run AND a.district_id IN :districts"
        ).bindparams(sa.bindparam("districts", expanding=True))
        return (
            db.session.connection()
            .execute(stmt, {"run": run.id, "districts": params["districts"]})
            .scalar_one()
        )
    return db.session.connection().execute(stmt, {"run": run.id}).scalar_one()


def _ledger_rows(params: dict[str, Any], export: Export) -> Iterator[Sequence[Any]]:
    """Every line of the run, by award and kind, in keyset batches."""
    from portal.subsidy.models import Channel, LineKind

    run = _run(params)
    if run is None:
        return
    locale = params.get("locale") or "zh_Hans_CN"
    names = {d.id: d.name(locale) for d in db.session.scalars(sa.select(District))}
    districts = set(params["districts"]) if params.get("districts") is not None else None
    kinds = {k.value: str(k.label) for k in LineKind}
    channels = {c.value: str(c.label) for c in Channel}
    month = run.month.strftime("%Y-%m")
    progress = Progress(export)
    last_award, last_kind = 0, ""
    while True:
        rows = (
            db.session.connection()
            .execute(
                sa.text(
                    "SELECT p.award_id, p.kind, p.channel, p.tier, p.rate, p.area, "
                    "p.coefficient, p.uncapped, p.cap, p.amount, a.reference, a.district_id "
                    "FROM subsidy_payments p JOIN subsidy_awards a ON a.id = p.award_id "
                    "WHERE p.run_id = :run AND (p.award_id > :award "
                    "OR (p.award_id = :award AND p.kind > :kind)) "
                    "ORDER BY p.award_id, p.kind LIMIT :n"
                ),
                {"run": run.id, "award": last_award, "kind": last_kind, "n": BATCH},
            )
            .all()
        )
        if not rows:
            progress.commit()
            return
        written = 0
        for r in rows:
            if districts is not None and r.district_id not in districts:
                continue
            yield [
                r.reference,
                names.get(r.district_id, ""),
                month,
                kinds.get(r.kind, r.kind),
                channels.get(r.channel, r.channel),
                r.tier,
                _decimal(r.rate),
                _decimal(r.area),
                _decimal(r.coefficient),
                _decimal(r.uncapped),
                _decimal(r.cap),
                _decimal(r.amount),
            ]
            written += 1
        last_award, last_kind = rows[-1].award_id, rows[-1].kind
        progress.add(written)


EXPORT_KINDS: dict[str, ExportKind] = {
    "subsidy_bank_file": ExportKind(
        title=_l("Rental subsidy bank file"),
        roles=(Role.OFFICER, Role.MANAGER),
        header=lambda: BANK_HEADER,
        count=_bank_count,
        rows=_bank_rows,
        scope=_scope,
    ),
    "subsidy_ledger": ExportKind(
        title=_l("Rental subsidy ledger of a month"),
        roles=(Role.OFFICER, Role.MANAGER),
        header=lambda: LEDGER_HEADER,
        count=_ledger_count,
        rows=_ledger_rows,
        scope=_scope,
    ),
}

"""Rent exports (CSV or XLSX, built by the exports job in keyset batches, memory flat):
the rent ledger (one row a lease's month) and the arrears ledger (one row a lease in
arrears), of the asker's districts (officers) or the city (managers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.applications.models import Application
from portal.core.clock import today
from portal.core.i18n import lazy_gettext as _l
from portal.exports.models import Export
from portal.exports.services import day_cell, districts_scope
from portal.extensions import db
from portal.housing.models import Building, Estate, Unit
from portal.tenancy import rent
from portal.tenancy.models import Lease, RentCharge

BATCH = 2000


def _in_scope(stmt: sa.Select, params: dict[str, Any]) -> sa.Select:
    if params.get("districts") is not None:
        stmt = stmt.where(
            Lease.application_id.in_(
                sa.select(Application.id).where(Application.district_id.in_(params["districts"]))
            )
        )
    return stmt


def _progress(export: Export, n: int) -> None:
    export.done_rows += n
    db.session.commit()  # progress the owner's page can see


# --- the rent ledger -----------------------------------------------------------------------

LEDGER_HEADER = (
    _l("Lease"),
    _l("Unit"),
    _l("Month"),
    _l("Due on"),
    _l("Due"),
    _l("Paid"),
    _l("Outstanding"),
    _l("Basis"),
    _l("Multiplier"),
    _l("Paid in full on"),
    _l("Reminded on"),
)


def _ledger_query(params: dict[str, Any]) -> sa.Select:
    return _in_scope(
        sa.select(
            RentCharge.id,
            Lease.reference,
            Estate.name,
            Building.name,
            Unit.number,
            RentCharge.month,
            RentCharge.due_on,
            RentCharge.amount,
            RentCharge.paid,
            RentCharge.basis,
            RentCharge.multiplier,
            RentCharge.settled_on,
            RentCharge.reminded_on,
        )
        .join(Lease, Lease.id == RentCharge.lease_id)
        .join(Unit, Unit.id == Lease.unit_id)
        .join(Estate, Estate.id == Unit.estate_id)
        .join(Building, Building.id == Unit.building_id),
        params,
    )


def _ledger_count(params: dict[str, Any]) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(_ledger_query(params).subquery())
    )


def _ledger_rows(params: dict[str, Any], export: Export) -> Iterator[list[Any]]:
    last = 0
    while True:
        batch = db.session.execute(
            _ledger_query(params).where(RentCharge.id > last).order_by(RentCharge.id).limit(BATCH)
        ).all()
        if not batch:
            return
        for row in batch:
            (
                _id,
                ref,
                estate,
                building,
                number,
                month,
                due,
                amount,
                paid,
                basis,
                mult,
                settled,
                reminded,
            ) = row
            yield [
                ref,
                f"{estate} {building} {number}",
                month.strftime("%Y-%m"),
                day_cell(due),
                str(amount),
                str(paid),
                str(amount - paid),
                str(rent.BASIS_LABELS.get(basis, basis)),
                str(mult),
                day_cell(settled),
                day_cell(reminded),
            ]
        last = batch[-1][0]
        _progress(export, len(batch))


# --- the arrears ledger --------------------------------------------------------------------

ARREARS_HEADER = (
    _l("Lease"),
    _l("Unit"),
    _l("Months in arrears"),
    _l("Amount"),
    _l("Unpaid since"),
    _l("Last reminded"),
)


def _arrears_query(params: dict[str, Any], on: date) -> sa.Select:
    arrears = rent.arrears_subquery(on)
    return _in_scope(
        sa.select(
            Lease.id,
            Lease.reference,
            Estate.name,
            Building.name,
            Unit.number,
            arrears.c.months,
            arrears.c.amount,
            arrears.c.since,
            arrears.c.reminded_on,
        )
        .join(arrears, arrears.c.lease_id == Lease.id)
        .join(Unit, Unit.id == Lease.unit_id)
        .join(Estate, Estate.id == Unit.estate_id)
        .join(Building, Building.id == Unit.building_id),
        params,
    )


def _arrears_count(params: dict[str, Any]) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(_arrears_query(params, today()).subquery())
    )


def _arrears_rows(params: dict[str, Any], export: Export) -> Iterator[list[Any]]:
    on = today()
    last = 0
    while True:
        batch = db.session.execute(
            _arrears_query(params, on).where(Lease.id > last).order_by(Lease.id).limit(BATCH)
        ).all()
        if not batch:
            return
        for _id, ref, estate, building, number, months, amount, since, reminded in batch:
            yield [
                ref,
                f"{estate} {building} {number}",
                int(months),
                str(rent.from_cents(amount)),
                since.strftime("%Y-%m"),
                day_cell(reminded),
            ]
        last = batch[-1][0]
        _progress(export, len(batch))


def _kinds():
    from portal.exports.services import ExportKind

    return {
        "rent_ledger": ExportKind(
            title=_l("Rent ledger"),
            roles=(Role.OFFICER, Role.MANAGER),
            header=lambda: LEDGER_HEADER,
            count=_ledger_count,
            rows=_ledger_rows,
            scope=districts_scope,
        ),
        "rent_arrears": ExportKind(
            title=_l("Rent arrears"),
            roles=(Role.OFFICER, Role.MANAGER),
            header=lambda: ARREARS_HEADER,
            count=_arrears_count,
            rows=_arrears_rows,
            scope=districts_scope,
        ),
    }


def export_kinds() -> dict:
    """The rent export kinds, for ``portal.exports.services.export_kinds``."""
    return _kinds()

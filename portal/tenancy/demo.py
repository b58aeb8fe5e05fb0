"""Demo data: rent history and exit cases for the demo's leases.

``load(officer, manager)`` charges every lease in force up to this month, then gives the
leases (oldest first, as ``portal.demo.load_demo_tenancies`` made them) a history to look
at: most pay each month at the counter a few days before the due day, two by the bank
(their latest payments come in an imported bank file), one pays a little more (credit),
one is two months behind (reminded), one has paid nothing for seven months (an ARREARS exit
case and a credit record for a manager to confirm), one was found subletting four months
ago and did not leave (OVERDUE, its rent escalated, a refusal to vacate flagged), and one
household gave notice to leave in three weeks. Leases at their annual review (about a year
old) are left to pay normally, for the reviews' demo. Then the daily jobs run as today.

Does nothing when there is no lease or once a rent payment exists. Call it after
``load_demo_tenancies`` (and outside anything that would text the demo households).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from portal.accounts.models import User
from portal.core.clock import today
from portal.extensions import db
from portal.tenancy import bank_import, exits, rent
from portal.tenancy.models import (
    ExitReason,
    Lease,
    LeaseStatus,
    PaymentSource,
    RentCharge,
    RentPayment,
)

# roles by position among the leases in force, oldest first
BANK = {1, 4}
CREDIT = {2}
BEHIND = {3}
ARREARS = {6}
SUBLET = {7}
NOTICE = {8}


def _pay_day(charge: RentCharge) -> date:
    return max(charge.month, charge.due_on - timedelta(days=3))


def _pay(lease: Lease, actor: User, charges, *, bank: bool, extra: Decimal = Decimal(0)):
    """Payments of ``charges`` a few days before each is due (not in the future)."""
    for n, charge in enumerate(charges):
        day = _pay_day(charge)
        if day > today():
            continue
        amount = charge.amount + (extra if n == 0 else Decimal(0))
        if bank:
            db.session.add(
                RentPayment(
                    lease_id=lease.id,
                    amount=amount,
                    paid_on=day,
                    source=PaymentSource.BANK,
                    bank_reference=f"DEMO{lease.id:04d}{charge.month:%Y%m}",
                    note="demo",
                    recorded_by_id=actor.id,
                )
            )
        else:
            rent.record_payment(lease, actor, amount=str(amount), paid_on=day, note="demo")
    db.session.flush()
    rent.allocate(lease)


def _bank_file(rows: list[tuple[Lease, RentCharge]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(bank_import.COLUMNS.values()))
    for lease, charge in rows:
        writer.writerow(
            [
                lease.reference,
                str(charge.amount),
                _pay_day(charge).isoformat(),
                f"DEMO{lease.id:04d}{charge.month:%Y%m}",
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def load(officer: User, manager: User) -> dict[str, int]:
    """Make the demo's rent history and exit cases; returns what was made."""
    leases = list(
        db.session.scalars(
            sa.select(Lease)
            .where(Lease.status == LeaseStatus.ACTIVE)
            .order_by(Lease.starts_on, Lease.id)
        )
    )
    if not leases or db.session.scalar(sa.select(sa.func.count()).select_from(RentPayment)):
        return {"leases": 0, "payments": 0, "exit_cases": 0}
    on = today()
    sublet = [lease for i, lease in enumerate(leases) if i in SUBLET]
    for lease in sublet:  # found four months ago; the moving period ended a month ago
        case = exits.open_case(
            lease,
            ExitReason.SUBLET,
            officer,
            facts="经现场核查，承租人将住房转租给他人居住，有租赁合同和邻居证言为证。",
        )
        case.opened_on = rent.add_months(on, -4)
        case.move_out_by = rent.add_months(on, -1)
    db.session.flush()
    for lease in leases:
        rent.ensure_charges(lease, on)

    bank_rows: list[tuple[Lease, RentCharge]] = []
    this_month = rent.month_of(on)
    for i, lease in enumerate(leases):
        charges = sorted(rent.charges_of(lease), key=lambda c: c.month)
        if i in ARREARS:
            _pay(lease, officer, charges[:-7], bank=False)
        elif i in BEHIND:
            _pay(lease, officer, charges[:-2], bank=False)
        elif i in SUBLET:
            _pay(lease, officer, [c for c in charges if c.basis == rent.BASIS_CONTRACT], bank=False)
        elif i in BANK:
            due = [c for c in charges if _pay_day(c) <= on]
            _pay(lease, officer, due[:-1], bank=True)
            bank_rows += [(lease, c) for c in due[-1:]]
        else:
            extra = Decimal("200.00") if i in CREDIT else Decimal(0)
            _pay(lease, officer, charges, bank=False, extra=extra)
    if bank_rows:
        bank_import.import_payments(_bank_file(bank_rows), f"bank-{this_month:%Y-%m}.csv", manager)
    for i, lease in enumerate(leases):
        if i in NOTICE:
            exits.give_notice(
                lease.tenant, lease, leave_on=on + timedelta(days=21), note="搬去子女家同住。"
            )
    reminded = rent.remind_arrears(on)
    overdue = exits.mark_overdue(on)
    return {
        "leases": len(leases),
        "payments": db.session.scalar(sa.select(sa.func.count()).select_from(RentPayment)),
        "exit_cases": len(sublet) + reminded["exit_cases"] + len(NOTICE & set(range(len(leases)))),
        "overdue": overdue["overdue"],
    }

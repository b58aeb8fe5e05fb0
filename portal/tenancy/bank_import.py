"""The bank's rent collection file (银行代扣): CSV (UTF-8 or GB18030) or XLSX, one row a
payment: lease reference, amount, date paid, the bank's transaction id.

All or nothing, like the housing import (``portal.housing.imports``, whose file reading
this shares): every row is checked first, and if any is wrong nothing is written and each
problem is listed with its row, its column as the file names it and a translated reason.
A file is imported once (its SHA-256), a transaction id once (in the file and across
files). The upload is held to the portal's upload limit (``portal.core.uploads``). Headers
may be English or Chinese; the format is in docs/rent-and-exit.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa
from flask_babel import format_datetime
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from portal.accounts.models import User
from portal.accounts.roles import Role
from portal.core import audit
from portal.core.clock import today
from portal.core.errors import ValidationFailed
from portal.core.i18n import lazy_gettext as _l
from portal.core.scope import lock_row
from portal.core.spreadsheets import csv_template
from portal.core.uploads import MAX_BYTES
from portal.extensions import db
from portal.housing.imports import RowError, _blank, _normalise, _rows_of, read_header
from portal.tenancy import rent
from portal.tenancy.models import Lease, LeaseStatus, PaymentSource, RentImport, RentPayment

MAX_ROWS = 50_000
SHOWN_ERRORS = 200
REFERENCE_MAX = 64

# Canonical column name → the Chinese header also accepted.
COLUMNS = {
    "lease_reference": "租约编号",
    "amount": "金额",
    "paid_on": "缴费日期",
    "transaction_id": "银行流水号",
}
ALIASES = {
    "lease": "lease_reference",
    "reference": "lease_reference",
    "合同编号": "lease_reference",
    "date": "paid_on",
    "paid_date": "paid_on",
    "交易日期": "paid_on",
    "transaction": "transaction_id",
    "bank_transaction_id": "transaction_id",
    "流水号": "transaction_id",
    "交易流水号": "transaction_id",
    "交易金额": "amount",
}
EXAMPLE = {
    "lease_reference": "L2026000001",
    "amount": "512.50",
    "paid_on": "2026-03-05",
    "transaction_id": "ICBC20260305000123",
}

HEADER_NAMES = {
    **{name: name for name in COLUMNS},
    **{_normalise(zh): name for name, zh in COLUMNS.items()},
    **{_normalise(alias): name for alias, name in ALIASES.items()},
}
DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


@dataclass
class BankRow:
    number: int
    lease: Lease
    amount: Decimal
    paid_on: date
    transaction_id: str


@dataclass
class ImportResult:
    rows: int = 0
    total: Decimal = Decimal("0.00")
    leases: int = 0
    imported: bool = False
    import_id: int | None = None
    checked: list[BankRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def shown_errors(self) -> list[RowError]:
        return self.errors[:SHOWN_ERRORS]


def _read(source: FileStorage | bytes | IO[bytes]) -> bytes:
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        stream = source.stream if isinstance(source, FileStorage) else source
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RequestEntityTooLarge()
    if not data.strip():
        raise ValidationFailed(_l("The file is empty."), field="file")
    return data


def _display_name(raw: str) -> str:
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable()).strip()[:200] or "upload"


def parse_paid_on(value: Any) -> date:
    """A date as the bank writes it: 2026-03-05, 2026/3/5, 2026年3月5日, 20260305, or a
    spreadsheet date; not in the future."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        day = value
    else:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        raw = str(value or "").strip()
        if not raw:
            raise ValidationFailed(_l("Enter the date paid."), field="paid_on")
        match = DATE_RE.fullmatch(raw) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", raw)
        day = None
        if match:
            try:
                day = date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                day = None
        if day is None:
            raise ValidationFailed(
                _l("This is not a date: write it as year-month-day, like 2026-03-05."),
                field="paid_on",
            )
    if day > today():
        raise ValidationFailed(_l("The date cannot be in the future."), field="paid_on")
    return day


def parse_transaction_id(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value if value is not None else "").strip()
    if not text:
        raise ValidationFailed(_l("Enter the bank's transaction id."), field="transaction_id")
    if len(text) > REFERENCE_MAX or not text.isprintable():
        raise ValidationFailed(
            _l(
                "A transaction id is at most %(max)d letters and digits.",
                max=REFERENCE_MAX,
            ),
            field="transaction_id",
        )
    return text


class _Checker:
    def __init__(self, actor: User, headers: dict[str, str]) -> None:
        self.actor = actor
        self.headers = headers
        self.errors: list[RowError] = []

    def error(self, row: int, column: str | None, message) -> None:
        self.errors.append(RowError(row, self.headers.get(column, column), message))


def _leases(actor: User, references: set[str]) -> dict[str, Lease]:
    found: dict[str, Lease] = {}
    refs = sorted(references)
    for i in range(0, len(refs), 500):
        for lease in db.session.scalars(
            sa.select(Lease).where(Lease.reference.in_(refs[i : i + 500]), rent.lease_scope(actor))
        ):
            found[lease.reference] = lease
    return found


def _known_transactions(ids: set[str]) -> set[str]:
    known: set[str] = set()
    refs = sorted(ids)
    for i in range(0, len(refs), 500):
        known.update(
            db.session.scalars(
                sa.select(RentPayment.bank_reference).where(
                    RentPayment.bank_reference.in_(refs[i : i + 500])
                )
            )
        )
    return known


def check_file(
    source: FileStorage | bytes | IO[bytes], filename: str, actor: User
) -> tuple[ImportResult, bytes]:
    """Read and check every row; nothing is written."""
    rent.require_staff(actor)
    data = _read(source)
    digest = hashlib.sha256(data).hexdigest()
    before = db.session.scalars(sa.select(RentImport).where(RentImport.sha256 == digest)).first()
    if before is not None:
        raise ValidationFailed(
            _l(
                "This file was already imported on %(when)s (%(rows)d payments). A file is "
                "imported once.",
                when=format_datetime(before.imported_at, "short"),
                rows=before.rows,
            ),
            field="file",
        )
    rows = _rows_of(data, filename)
    positions, headers, number = read_header(rows, HEADER_NAMES, COLUMNS, COLUMNS)
    checker = _Checker(actor, headers)
    raw: list[tuple[int, dict[str, Any]]] = []
    for values in rows:
        number += 1
        if _blank(values):
            continue
        if len(raw) >= MAX_ROWS:
            raise ValidationFailed(
                _l(
                    "The file has more than %(count)d rows. Split it into smaller files.",
                    count=MAX_ROWS,
                ),
                field="file",
            )
        raw.append(
            (number, {n: (values[i] if i < len(values) else None) for n, i in positions.items()})
        )
    if not raw:
        raise ValidationFailed(_l("The file has a header but no payments."), field="file")

    references = {str(c.get("lease_reference") or "").strip().upper() for _n, c in raw}
    leases = _leases(actor, {r for r in references if r})
    parsed_ids = set()
    for _n, cells in raw:
        with contextlib.suppress(ValidationFailed):
            parsed_ids.add(parse_transaction_id(cells.get("transaction_id")))
    known = _known_transactions(parsed_ids)

    result = ImportResult(rows=len(raw))
    first_of: dict[str, int] = {}
    for number, cells in raw:
        ok = True
        reference = str(cells.get("lease_reference") or "").strip().upper()
        lease = leases.get(reference)
        if not reference:
            checker.error(number, "lease_reference", _l("Enter the lease reference."))
            ok = False
        elif lease is None:
            checker.error(
                number,
                "lease_reference",
                _l("There is no lease %(reference)s in your districts.", reference=reference[:24]),
            )
            ok = False
        elif lease.status is not LeaseStatus.ACTIVE:
            checker.error(
                number,
                "lease_reference",
                _l(
                    "Lease %(reference)s ended on %(date)s: take its payment at the counter.",
                    reference=reference,
                    date=lease.ended_on.isoformat() if lease.ended_on else "",
                ),
            )
            ok = False
        try:
            amount = rent.parse_amount(cells.get("amount"))
        except ValidationFailed as exc:
            checker.error(number, "amount", exc.message)
            ok = False
        try:
            paid_on = parse_paid_on(cells.get("paid_on"))
        except ValidationFailed as exc:
            checker.error(number, "paid_on", exc.message)
            ok = False
        try:
            txn = parse_transaction_id(cells.get("transaction_id"))
        except ValidationFailed as exc:
            checker.error(number, "transaction_id", exc.message)
            ok = False
        else:
            if txn in first_of:
                checker.error(
                    number,
                    "transaction_id",
                    _l("The same transaction is already in row %(row)d.", row=first_of[txn]),
                )
                ok = False
            else:
                first_of[txn] = number
                if txn in known:
                    checker.error(
                        number,
                        "transaction_id",
                        _l("Transaction %(id)s was already imported.", id=txn),
                    )
                    ok = False
        if ok:
            result.checked.append(BankRow(number, lease, amount, paid_on, txn))
    result.errors = sorted(checker.errors, key=lambda e: e.row)
    result.total = sum((r.amount for r in result.checked), Decimal("0.00"))
    result.leases = len({r.lease.id for r in result.checked})
    return result, data


def import_payments(
    source: FileStorage | bytes | IO[bytes], filename: str, actor: User, *, dry_run: bool = False
) -> ImportResult:
    """Check the file and, if every row is right (and not ``dry_run``), record each row as a
    BANK payment, allocate them and keep the file's hash. Returns the counts, or the errors
    with nothing written. A file that cannot be read at all raises ValidationFailed."""
    result, data = check_file(source, filename, actor)
    name = _display_name(filename)
    if not result.ok:
        audit.record(
            "rent.import",
            actor=actor,
            result="rejected",
            file=name,
            rows=result.rows,
            errors=len(result.errors),
        )
        return result
    if dry_run:
        return result
    record = RentImport(
        filename=name,
        sha256=hashlib.sha256(data).hexdigest(),
        rows=result.rows,
        total=result.total,
        imported_by_id=actor.id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise ValidationFailed(
            _l("This file was just imported by someone else. A file is imported once."),
            field="file",
        ) from None
    touched: dict[int, Lease] = {}
    for row in result.checked:
        db.session.add(
            RentPayment(
                lease_id=row.lease.id,
                amount=row.amount,
                paid_on=row.paid_on,
                source=PaymentSource.BANK,
                bank_reference=row.transaction_id,
                import_id=record.id,
                note=name,
                recorded_by_id=actor.id,
            )
        )
        touched[row.lease.id] = row.lease
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError:
        raise ValidationFailed(
            _l("A transaction of this file was just imported by someone else. Check it again."),
            field="file",
        ) from None
    for lease_id in sorted(touched):
        rent.allocate(lock_row(Lease, lease_id))
    result.imported = True
    result.import_id = record.id
    audit.record(
        "rent.import",
        actor=actor,
        obj=record,
        file=name,
        rows=result.rows,
        total=result.total,
        leases=result.leases,
    )
    return result


def recent_imports(user: User, limit: int = 20) -> list[RentImport]:
    """The latest files imported: a manager sees every one, an officer their own."""
    stmt = sa.select(RentImport)
    if user.role is not Role.MANAGER:
        stmt = stmt.where(RentImport.imported_by_id == user.id)
    return list(db.session.scalars(stmt.order_by(RentImport.id.desc()).limit(limit)))


def template_csv(chinese: bool) -> str:
    """The file's template: the header row (Chinese or English) and one example row."""
    return csv_template(COLUMNS, EXAMPLE, chinese)

"""The bank's rent collection file: CSV or XLSX, Chinese or English headers, all or nothing
with every problem listed by row and column, a file once and a transaction once."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import force_locale
from openpyxl import Workbook
from werkzeug.exceptions import RequestEntityTooLarge

from portal.accounts.roles import Role
from portal.core.errors import Forbidden, ValidationFailed
from portal.core.uploads import MAX_BYTES
from portal.extensions import db
from portal.tenancy import bank_import, rent
from portal.tenancy.models import PaymentSource, RentImport, RentPayment
from portal.tenancy.services import end_lease
from tests.factories import DistrictFactory
from tests.factories.fixtures import make_staff
from tests.factories.tenancy import make_lease, noon

START = date(2027, 1, 1)
TODAY = date(2027, 3, 15)
CELL_DATE = datetime(2027, 3, 1)  # noqa: DTZ001 (a spreadsheet cell has no zone)


@pytest.fixture
def leases(district, officer):
    with time_machine.travel(noon(START), tick=False) as clock:
        made = [make_lease(district, officer, starts_on=START) for _ in range(3)]
        clock.move_to(noon(TODAY))
        rent.charge_rent()
        yield made


def csv_bytes(rows, header=("lease_reference", "amount", "paid_on", "transaction_id")) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(rows, header) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def problems(result) -> list[tuple[int, str | None, str]]:
    with force_locale("en"):
        return [(e.row, e.column, str(e.message)) for e in result.errors]


def test_a_correct_csv_file_is_imported_and_allocated(leases, officer):
    a, b, c = leases
    data = csv_bytes(
        [
            (a.reference, "500.00", "2027-02-05", "ICBC0001"),
            (b.reference.lower(), "1,500", "2027/3/1", "ICBC0002"),
            (c.reference, "120.5", "20270310", "ICBC0003"),
        ]
    )
    result = bank_import.import_payments(data, "2027-03.csv", officer)
    assert result.ok
    assert result.imported
    assert (result.rows, result.leases, result.total) == (3, 3, Decimal("2120.50"))
    assert rent.arrears_of(b).months == 0  # three months paid
    assert rent.arrears_of(a).months == 2
    payment = db.session.scalars(
        sa.select(RentPayment).where(RentPayment.bank_reference == "ICBC0001")
    ).one()
    assert (payment.source, payment.paid_on, payment.lease_id) == (
        PaymentSource.BANK,
        date(2027, 2, 5),
        a.id,
    )
    imported = db.session.get(RentImport, result.import_id)
    assert (imported.rows, imported.total, imported.filename) == (
        3,
        Decimal("2120.50"),
        "2027-03.csv",
    )


def test_an_xlsx_file_with_chinese_headers_and_spreadsheet_cells(leases, officer):
    a, b, _c = leases
    data = xlsx_bytes(
        [
            (a.reference, 500, CELL_DATE, 6222020001),
            (b.reference, 512.5, "2027年3月2日", "ABC-2"),
        ],
        header=("租约编号", "金额", "缴费日期", "银行流水号"),
    )
    result = bank_import.import_payments(data, "bank.xlsx", officer)
    assert result.ok, problems(result)
    refs = set(db.session.scalars(sa.select(RentPayment.bank_reference)))
    assert {"6222020001", "ABC-2"} <= refs
    assert rent.balance_of(b).paid == Decimal("512.50")


def test_every_bad_row_is_listed_and_nothing_is_imported(leases, officer, district):
    a, b, c = leases
    with time_machine.travel(noon(TODAY), tick=False):
        end_lease(c, officer, TODAY)
    other = make_staff(Role.OFFICER, districts=[DistrictFactory()])
    elsewhere = make_lease(officer=other)
    db.session.add(
        RentPayment(
            lease_id=a.id,
            amount=Decimal(1),
            paid_on=START,
            source=PaymentSource.BANK,
            bank_reference="OLD-1",
        )
    )
    db.session.flush()
    rows = [
        (a.reference, "500", "2027-03-01", "T1"),  # 2: fine
        ("L2027999999", "500", "2027-03-01", "T2"),  # 3: unknown lease
        (c.reference, "500", "2027-03-01", "T3"),  # 4: ended lease
        (a.reference, "0", "2027-03-01", "T4"),  # 5: not positive
        (a.reference, "12.345", "2027-03-01", "T5"),  # 6: three decimals
        (a.reference, "1e3", "2027-03-01", "T6"),  # 7: float-like garbage
        (a.reference, "500", "2027-02-30", "T7"),  # 8: no such day
        (a.reference, "500", "2099-01-01", "T8"),  # 9: future
        (a.reference, "500", "2027-03-01", "T1"),  # 10: duplicate in the file
        (a.reference, "500", "2027-03-01", "OLD-1"),  # 11: already imported
        (elsewhere.reference, "500", "2027-03-01", "T11"),  # 12: another district's
        ("", "", "", ""),  # blank: skipped
        (b.reference, "abc", "yesterday", ""),  # 14: three problems
    ]
    with time_machine.travel(noon(TODAY), tick=False):
        result = bank_import.import_payments(csv_bytes(rows), "bad.csv", officer)
    assert not result.ok
    assert not result.imported
    found = problems(result)
    by_row = {}
    for row, column, message in found:
        by_row.setdefault(row, []).append((column, message))
    assert 2 not in by_row
    assert by_row[3] == [("lease_reference", "There is no lease L2027999999 in your districts.")]
    assert "ended on 2027-03-15" in by_row[4][0][1]
    assert by_row[5] == [("amount", "The amount must be more than 0.")]
    assert by_row[6] == [("amount", "The amount may have at most two decimal places (fen).")]
    assert by_row[7] == [("amount", "The amount must be a number of yuan, like 512.50.")]
    assert by_row[8][0][0] == "paid_on"
    assert "not a date" in by_row[8][0][1]
    assert by_row[9] == [("paid_on", "The date cannot be in the future.")]
    assert by_row[10] == [("transaction_id", "The same transaction is already in row 2.")]
    assert by_row[11] == [("transaction_id", "Transaction OLD-1 was already imported.")]
    assert by_row[12][0][0] == "lease_reference"
    assert 13 not in by_row
    assert [c for c, _m in by_row[14]] == ["amount", "paid_on", "transaction_id"]
    assert db.session.scalars(sa.select(RentImport)).all() == []
    assert (
        db.session.scalars(
            sa.select(RentPayment).where(RentPayment.source == PaymentSource.BANK)
        ).all()
        != []
    )  # only the old one
    assert len(db.session.scalars(sa.select(RentPayment)).all()) == 1


def test_the_same_file_is_imported_once(leases, officer):
    a, _b, _c = leases
    data = csv_bytes([(a.reference, "500", "2027-03-01", "ONCE-1")])
    assert bank_import.import_payments(data, "once.csv", officer).imported
    with pytest.raises(ValidationFailed) as again:
        bank_import.import_payments(data, "renamed.csv", officer)
    with force_locale("en"):
        assert "already imported" in str(again.value)
    # the same payment in another file: the transaction is refused
    other = csv_bytes([(a.reference, "500.00", "2027-03-01", "ONCE-1")])
    result = bank_import.import_payments(other, "again.csv", officer)
    assert [c for _r, c, _m in problems(result)] == ["transaction_id"]


def test_a_check_only_writes_nothing(leases, officer):
    a, _b, _c = leases
    data = csv_bytes([(a.reference, "500", "2027-03-01", "DRY-1")])
    result = bank_import.import_payments(data, "dry.csv", officer, dry_run=True)
    assert result.ok
    assert not result.imported
    assert result.total == Decimal(500)
    assert db.session.scalars(sa.select(RentPayment)).all() == []
    assert bank_import.import_payments(data, "dry.csv", officer).imported


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"name,amount\nx,1\n", "lacks these columns"),
        (csv_bytes([]), "no payments"),
        (b"lease_reference,amount,amount,paid_on,transaction_id\n", "appears twice"),
        (b"\xd0\xcf\x11\xe0old excel", "Only CSV or XLSX"),
    ],
)
def test_unreadable_files_are_refused_whole(leases, officer, data, expected):
    with pytest.raises(ValidationFailed) as refused:
        bank_import.import_payments(data, "x.csv", officer)
    with force_locale("en"):
        assert expected in str(refused.value)
    assert refused.value.field == "file"


def test_the_upload_limit_applies(leases, officer):
    with pytest.raises(RequestEntityTooLarge):
        bank_import.import_payments(b"x" * (MAX_BYTES + 1), "big.csv", officer)


def test_only_staff_import(leases):
    with pytest.raises(Forbidden):
        bank_import.import_payments(csv_bytes([]), "x.csv", leases[0].tenant)


def test_the_template_has_both_languages():
    assert bank_import.template_csv(True).startswith("\ufeff租约编号,金额,缴费日期,银行流水号")
    assert "lease_reference,amount,paid_on,transaction_id" in bank_import.template_csv(False)

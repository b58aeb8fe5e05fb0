"""Rent exports: the rent ledger and the arrears ledger of the officer's districts, CSV and
XLSX, through the exports job."""

from __future__ import annotations

import csv
import io
import zipfile

from portal.accounts.roles import Role
from portal.core.clock import today
from portal.tenancy import rent
from tests.factories import DistrictFactory
from tests.factories.tenancy import make_lease


def ask(client, kind, fmt):
    resp = client.post_form("/exports/", {"kind": kind, "format": fmt})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def csv_rows(client, export_id):
    resp = client.get(f"/exports/{export_id}/download")
    assert resp.status_code == 200
    return list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))


def test_the_rent_and_arrears_ledgers_of_the_officers_districts(staff_client, district):
    start = rent.add_months(rent.month_of(today()), -2)
    mine = make_lease(district, starts_on=start)
    other = make_lease(DistrictFactory(), starts_on=start)
    rent.charge_rent()
    client, _ = staff_client(Role.OFFICER, districts=[district], locale="en")
    rows = csv_rows(client, ask(client, "rent_ledger", "csv"))
    assert rows[0][:3] == ["Lease", "Unit", "Month"]
    assert {r[0] for r in rows[1:]} == {mine.reference}
    assert len(rows) == 4  # three months
    assert rows[1][4] == "500.00"
    assert other.reference not in str(rows)

    rows = csv_rows(client, ask(client, "rent_arrears", "csv"))
    assert rows[1][0] == mine.reference
    assert int(rows[1][2]) == rent.arrears_of(mine).months
    assert rows[1][3] == str(rent.arrears_of(mine).amount)

    export_id = ask(client, "rent_ledger", "xlsx")
    data = client.get(f"/exports/{export_id}/download").get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        assert "xl/worksheets/sheet1.xml" in book.namelist()

"""Exports (台账): asked on a page, built by a job with progress, downloaded by the owner only,
with inert formulas (SECURITY.md C2)."""

import csv
import io
import zipfile

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.core.audit import AuditEvent
from portal.exports.models import Export, ExportStatus
from tests.factories import DistrictFactory, ResidentFactory
from tests.factories.applications import draft_for, submit
from tests.factories.registry import local_household


@pytest.fixture
def district(db):
    return DistrictFactory(code="450302")


def submitted(district, **resident):
    r = ResidentFactory(**resident)
    local_household((r.real_name, r.id_number))
    return submit(draft_for(r, district), r)


def ask(client, fmt):
    resp = client.post_form("/exports/", {"kind": "applications_ledger", "format": fmt})
    assert resp.status_code == 302
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def test_officer_exports_the_ledger_of_their_districts_as_csv(staff_client, district, db):
    mine = submitted(district, real_name='=HYPERLINK("http://evil")')
    other = submitted(DistrictFactory())
    client, _ = staff_client(Role.OFFICER, districts=[district], locale="en")
    export_id = ask(client, "csv")
    page = client.get(f"/exports/{export_id}").get_data(as_text=True)
    assert "Ready to download" in page  # built in-process without a job queue
    resp = client.get(f"/exports/{export_id}/download")
    assert resp.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "Reference"
    refs = [r[0] for r in rows[1:]]
    assert mine.reference in refs
    assert other.reference not in refs  # another district's application
    name_cell = rows[1][4]
    assert name_cell.startswith("'=HYPERLINK")  # inert, not a formula
    assert mine.applicant.id_number not in resp.get_data().decode("utf-8-sig")
    assert db.session.get(Export, export_id).status is ExportStatus.DONE


def test_xlsx_export_opens_as_a_workbook(staff_client, district):
    submitted(district)
    client, _ = staff_client(Role.MANAGER)
    export_id = ask(client, "xlsx")
    data = client.get(f"/exports/{export_id}/download").get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        assert "xl/worksheets/sheet1.xml" in book.namelist()


def test_someone_elses_export_answers_404_and_is_audited(staff_client, district, db):
    client, _ = staff_client(Role.OFFICER, districts=[district])
    export_id = ask(client, "csv")
    other, _ = staff_client(Role.OFFICER, districts=[district])
    assert other.get(f"/exports/{export_id}").status_code == 404
    assert other.get(f"/exports/{export_id}/download").status_code == 404
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "access.out_of_scope", AuditEvent.object_type == "exports")
        )
        == 2
    )


def test_residents_and_reviewers_cannot_export(staff_client, resident_client):
    assert resident_client.get("/exports/").status_code == 403
    client, _ = staff_client(Role.AUDITOR)
    assert client.get("/exports/").status_code == 403


def test_unknown_format_is_refused(staff_client, district, db):
    client, _ = staff_client(Role.OFFICER, districts=[district])
    resp = client.post_form("/exports/", {"kind": "applications_ledger", "format": "pdf"})
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Export)) == 0


def test_housekeeping_removes_week_old_exports_and_expired_reset_codes(staff_client, district, db):
    from datetime import timedelta

    import time_machine

    from portal.core.clock import utcnow
    from portal.exports.services import export_path
    from portal.jobs.tasks import housekeeping

    client, _ = staff_client(Role.OFFICER, districts=[district])
    export = db.session.get(Export, ask(client, "csv"))
    path = export_path(export)
    assert path.exists()
    assert housekeeping()["exports"] == 0  # a fresh export stays
    with time_machine.travel(utcnow() + timedelta(days=8), tick=False):
        assert housekeeping()["exports"] == 1
    assert not path.exists()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Export)) == 0

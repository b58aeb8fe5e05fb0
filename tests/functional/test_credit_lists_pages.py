"""Managers' pages of the joint-punishment list: the list, exports in CSV, XLSX and JSON Lines
through the exports module (allow-listed schema, inert formulas, signed), the lists partner
agencies pushed in, and the audit of each."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.roles import Role
from portal.api.auth import create_client
from portal.applications.services import active_bans
from portal.core.audit import AuditEvent
from portal.core.clock import today
from portal.core.identifiers import make_credit_code
from portal.core.spreadsheets import XlsxStream
from portal.credit import lists, signing
from portal.credit.models import CreditBan, ExternalListing, RecordStatus, SubjectKind
from tests.factories import ResidentFactory
from tests.factories.credit import credit_record, organisation_code, person_id_number

EVIL = '=HYPERLINK("http://evil","物业公司")'


def events(db, name: str) -> list[AuditEvent]:
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)).all()


def ask(browser, kind: str, fmt: str) -> int:
    resp = browser.post_form("/staff/credit/lists/exports", {"kind": kind, "format": fmt})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


@pytest.fixture
def on_the_list(db):
    person = credit_record("V-SUBLET", name="欧阳修")
    org = credit_record(
        "V-ILLEGAL-USE",
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=organisation_code(),
        name=EVIL,
    )
    off = credit_record("V-BREACH")  # general, score 95: published but not on the list
    gone = credit_record("V-SUBLET", status=RecordStatus.ANNULLED)
    return person, org, off, gone


def test_only_managers_see_the_lists(staff_client, client):
    for role in (Role.OFFICER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR):
        browser, _ = staff_client(role)
        assert browser.get("/staff/credit/lists/").status_code == 403
        assert browser.get("/staff/credit/lists/partners").status_code == 403
    assert client.get("/staff/credit/lists/").status_code == 302  # to sign-in


def test_the_manager_sees_counts_and_subjects(staff_client, on_the_list):
    person, org, off, gone = on_the_list
    browser, _ = staff_client(Role.MANAGER, locale="en")
    html = browser.get("/staff/credit/lists/").get_data(as_text=True)
    assert person.reference in html
    assert org.reference in html
    assert off.reference not in html
    assert gone.reference not in html
    assert person.subject_id_number not in html
    assert "subjects on the list" in html
    assert "70 (C)" in html


def test_csv_export_end_to_end_with_the_schema_and_its_signature(staff_client, on_the_list, db):
    person, org, _off, _gone = on_the_list
    browser, manager = staff_client(Role.MANAGER, locale="en")
    export_id = ask(browser, "credit_joint_list", "csv")
    assert "Ready to download" in browser.get(f"/exports/{export_id}").get_data(as_text=True)
    resp = browser.get(f"/exports/{export_id}/download")
    assert resp.mimetype == "text/csv"
    data = resp.get_data()
    text = data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == lists.SCHEMA
    assert sorted(r["reference"] for r in rows) == sorted([person.reference, org.reference])
    mine = next(r for r in rows if r["reference"] == person.reference)
    assert mine["subject_name"] == "欧**"
    assert mine["removed"] == "false"
    assert mine["removed_reason"] == ""
    theirs = next(r for r in rows if r["reference"] == org.reference)
    assert theirs["subject_name"] == "'" + EVIL  # inert, not a formula (C2)
    assert person.subject_id_number not in text
    assert person.facts not in text
    assert manager.real_name not in text

    sig = browser.get(f"/staff/credit/lists/exports/{export_id}/signature")
    assert sig.status_code == 200
    assert sig.headers["Content-Disposition"].startswith("attachment")
    doc = sig.get_json(force=True)
    manifest = json.loads(doc["manifest"])
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["rows"] == 2
    pem = browser.get("/api/v1/credit/signing-key").get_json()["public_key_pem"]
    assert signing.verify(doc["manifest"].encode(), doc["signature"], pem)

    assert len(events(db, "export.requested")) == 1
    assert len(events(db, "export.downloaded")) == 1
    assert len(events(db, "export.signature_downloaded")) == 1


def test_xlsx_and_json_lines_exports(staff_client, on_the_list, db):
    person, org, off, gone = on_the_list
    browser, _ = staff_client(Role.MANAGER)
    xlsx = browser.get(f"/exports/{ask(browser, 'credit_published', 'xlsx')}/download")
    with zipfile.ZipFile(io.BytesIO(xlsx.get_data())) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = (
            book.read("xl/sharedStrings.xml").decode()
            if "xl/sharedStrings.xml" in book.namelist()
            else ""
        )
    content = sheet + strings
    for name in ("reference", "subject_id", "removed_reason"):
        assert name in content
    assert off.reference in content  # published, though not on the joint list
    assert gone.reference not in content
    assert person.subject_id_number not in content

    resp = browser.get(f"/exports/{ask(browser, 'credit_joint_list', 'jsonl')}/download")
    assert resp.mimetype == "application/x-ndjson"
    records = [json.loads(line) for line in resp.get_data(as_text=True).splitlines()]
    assert {r["reference"] for r in records} == {person.reference, org.reference}
    assert all(tuple(r) == lists.SCHEMA for r in records)
    assert {r["removed"] for r in records} == {False}
    assert person.subject_id_number not in resp.get_data(as_text=True)
    by_ref = {r["reference"]: r for r in records}
    assert by_ref[org.reference]["subject_name"] == EVIL  # JSON is data, not a spreadsheet
    assert by_ref[org.reference]["subject_id"] == org.subject_code


def test_an_officer_cannot_export_the_list(staff_client, on_the_list, db):
    browser, _officer = staff_client(Role.OFFICER)
    resp = browser.post_form("/exports/", {"kind": "credit_joint_list", "format": "csv"})
    assert resp.status_code == 302
    assert events(db, "export.requested") == []
    assert "credit_joint_list" not in browser.get("/exports/").get_data(as_text=True)


def test_someone_elses_signature_answers_404(staff_client, on_the_list, db):
    browser, _ = staff_client(Role.MANAGER)
    export_id = ask(browser, "credit_joint_list", "csv")
    other, _ = staff_client(Role.MANAGER)
    assert other.get(f"/staff/credit/lists/exports/{export_id}/signature").status_code == 404


def test_sheets_split_beyond_the_row_limit(tmp_path, monkeypatch):
    from portal.core import spreadsheets

    monkeypatch.setattr(spreadsheets, "XLSX_MAX_ROWS", 4)  # 3 data rows and the header a sheet
    path = tmp_path / "list.xlsx"
    book = XlsxStream(str(path), list(lists.SCHEMA), sheet="list")
    for i in range(7):
        book.append([f"CR{i}", *[""] * (len(lists.SCHEMA) - 1)])
    book.close()
    with zipfile.ZipFile(path) as z:
        sheets = sorted(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    assert sheets == [
        "xl/worksheets/sheet1.xml",
        "xl/worksheets/sheet2.xml",
        "xl/worksheets/sheet3.xml",
    ]


# --- lists received from partners ----------------------------------------------------------


def test_the_manager_sees_partner_listings_and_takes_one_off(staff_client, db):
    court = create_client(
        None,
        name="桂林市中级人民法院",
        credit_code=make_credit_code("11450300MB1234567"),
        scopes=[],
    ).client
    resident = ResidentFactory()
    entry = {
        "external_id": "J-1",
        "list_name": "失信被执行人名单",
        "subject_kind": "person",
        "id_number": resident.id_number,
        "name": resident.real_name,
        "reason": "失信被执行人",
        "starts_on": (today() - timedelta(days=3)).isoformat(),
    }
    lists.push_listings(
        court,
        [entry, {**entry, "external_id": "J-2", "name": "李四", "id_number": person_id_number()}],
    )
    browser, manager = staff_client(Role.MANAGER, locale="en")
    html = browser.get("/staff/credit/lists/partners").get_data(as_text=True)
    assert "桂林市中级人民法院" in html
    assert "失信被执行人名单" in html
    assert resident.id_number not in html

    listing = db.session.scalars(
        sa.select(ExternalListing).where(ExternalListing.external_id == "J-1")
    ).one()
    short = browser.post_form(f"/staff/credit/lists/partners/{listing.id}/remove", {"reason": "x"})
    assert short.status_code == 302
    db.session.expire_all()
    assert db.session.get(ExternalListing, listing.id).removed_at is None

    resp = browser.post_form(
        f"/staff/credit/lists/partners/{listing.id}/remove",
        {"reason": "法院来函撤销（2026）桂03执123号"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(ExternalListing, listing.id).removed_at is not None
    assert active_bans([resident.id_number_index]) == []
    ban = db.session.scalars(sa.select(CreditBan).where(CreditBan.listing_id == listing.id)).one()
    assert ban.ends_on < today()
    [event] = events(db, "credit.listing_removed")
    assert event.actor_id == manager.id
    assert "桂03执123号" in event.details_dict["reason"]
    counts = {c.list_name: (c.active, c.removed) for c in lists.listing_counts()}
    assert counts == {"失信被执行人名单": (1, 1)}

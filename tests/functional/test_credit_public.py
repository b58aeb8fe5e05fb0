"""The public page of published credit records: no sign-in, masked, only what is in force."""

from __future__ import annotations

from datetime import timedelta

from portal.core.clock import today
from portal.core.identifiers import mask_id_number
from portal.credit.models import RecordStatus, SubjectKind
from tests.factories.credit import credit_record, organisation_code


def test_anyone_sees_published_records_masked(client, db):
    person = credit_record("V-SUBLET", name="欧阳修")
    code = organisation_code()
    org = credit_record(
        "V-ILLEGAL-USE",
        subject_kind=SubjectKind.ORGANISATION,
        credit_code=code,
        name="桂林漓江物业服务有限公司",
    )
    resp = client.get("/credit")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert person.reference in html
    assert "欧**" in html
    assert "欧阳修" not in html
    assert mask_id_number(person.subject_id_number) in html
    assert person.subject_id_number not in html
    assert person.facts not in html  # facts may hold personal data
    assert "桂林漓江物业服务有限公司" in html
    assert code in html
    assert org.reference in html
    assert "转租转借" in html  # Chinese by default
    assert 'class="stack"' in html  # the table folds into cards on a phone
    assert resp.headers["Cache-Control"] == "no-store"


def test_expired_annulled_and_pending_records_are_not_shown(client, db):
    hidden = [
        credit_record(status=RecordStatus.PENDING),
        credit_record(status=RecordStatus.REJECTED),
        credit_record(status=RecordStatus.ANNULLED),
        credit_record(status=RecordStatus.REPAIRED),
        credit_record(status=RecordStatus.EXPIRED),
        credit_record(publish_until=today() - timedelta(days=1)),
    ]
    shown = credit_record(status=RecordStatus.OBJECTED)
    html = client.get("/credit").get_data(as_text=True)
    assert shown.reference in html
    for record in hidden:
        assert record.reference not in html


def test_search_and_pages(client, db):
    code = organisation_code()
    org = credit_record(
        "V-ILLEGAL-USE", subject_kind=SubjectKind.ORGANISATION, credit_code=code, name="甲公司"
    )
    others = [credit_record() for _ in range(31)]
    html = client.get("/credit", query_string={"q": code}).get_data(as_text=True)
    assert org.reference in html
    assert others[0].reference not in html

    first = client.get("/credit").get_data(as_text=True)
    assert others[-1].reference in first  # newest first
    assert org.reference not in first  # on the second page (30 a page)
    assert f"before={others[1].id}" in first
    second = client.get(f"/credit?before={others[1].id}").get_data(as_text=True)
    assert org.reference in second
    assert others[0].reference in second
    assert others[-1].reference not in second


def test_the_page_in_english_explains_the_grades(client, db):
    credit_record("V-SUBLET")
    client.set_cookie("locale", "en", domain="portal.test")
    html = client.get("/credit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Subletting or lending the home" in html
    assert "What the grades mean" in html
    assert "no housing benefits for 5 years" in html

"""Input no database could store is refused at the edge with a clear answer, never a server
error: the NUL character anywhere in text, and numbers past the range of the id columns."""

from __future__ import annotations

from portal.core.web import ROW_ID_MAX


def test_nul_in_json_is_a_problem_document(client, db):
    resp = client.post(
        "/api/v1/auth/client-token",
        json={"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"},
        headers={"Accept-Language": "en"},
    )
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["detail"] == "Text may not contain the NUL character."


def test_nul_in_a_query_or_a_form_is_refused(client, db):
    assert client.get("/notices?page=1%00").status_code == 422
    resp = client.post("/self-check", data={"programme": "public\x00rental"})
    assert resp.status_code in (405, 422)  # the self-check is a GET form: either refusal


def test_ids_past_the_column_range_are_not_found(client, db):
    assert client.get(f"/notices/{ROW_ID_MAX + 1}").status_code == 404
    assert client.get(f"/api/v1/notices/{ROW_ID_MAX + 1}").status_code == 404
    assert client.get(f"/api/v1/notices/{ROW_ID_MAX}").status_code == 404  # none so large


def test_api_numbers_past_the_range_are_input_errors(client, db):
    resp = client.get(f"/api/v1/rounds?page={2**40}")
    assert resp.status_code in (200, 422)
    resp = client.post("/api/v1/public/self-check", json={"household_size": 2**40})
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"

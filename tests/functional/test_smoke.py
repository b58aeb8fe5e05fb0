def test_home_page_renders_in_chinese_by_default(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert 'lang="zh-Hans"' in resp.get_data(as_text=True)


def test_resident_signs_in_and_sees_masked_id(resident_client, resident):
    html = resident_client.get("/me").get_data(as_text=True)
    assert resident.id_number[:4] + "*" * 10 + resident.id_number[-4:] in html
    assert resident.id_number not in html

def test_home_page_renders_in_armenian_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="hy">' in response.get_data(as_text=True)


def test_login_as_clerk_shows_their_name(client, login_as):
    login_as("clerk")
    response = client.get("/")
    assert response.status_code == 200
    # seed_municipality names alpha's clerk "Clerk Alpha"
    assert "Clerk Alpha" in response.get_data(as_text=True)


def test_not_found_page_is_in_the_users_language(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert '<html lang="hy">' in text and "Not found" not in text and "Traceback" not in text


def test_api_errors_are_json(client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["message"]


def test_method_not_allowed_is_a_page_not_a_crash(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert "Traceback" not in response.get_data(as_text=True)

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

def test_login_page_is_armenian_and_keyboard_usable(page, live_server):
    page.goto(f"{live_server.live_url}/login/")
    assert page.get_attribute("html", "lang") == "hy"
    # From the top of the page, the first Tab lands on the skip link (the login form
    # autofocuses its first field, so start from nothing focused as a screen reader user may).
    page.evaluate("document.body.tabIndex = -1; document.body.focus()")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"


def test_switching_language_and_signing_in(page, live_server, sign_in):
    sign_in(page, "alpha.municipal_admin")
    page.goto(f"{live_server.live_url}/lang/en")
    page.goto(f"{live_server.live_url}/admin/departments/list/")
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_by_role("cell", name="Citizen Service Office").is_visible()
    assert "Beta" not in page.content()


def test_pages_fit_a_phone(browser, live_server):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    phone = context.new_page()
    phone.goto(f"{live_server.live_url}/login/")
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    context.close()
    assert overflow <= 0

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


def test_the_intake_form_has_no_two_fields_with_the_same_label(page, live_server, sign_in):
    """Issue 8 found two fields both labelled "Address" (the applicant's and the form's)."""
    sign_in(page, "alpha.clerk")
    page.goto(f"{live_server.live_url}/office/new/residence-certificate?_l_=en")
    labels = page.eval_on_selector_all(
        "form.office-intake label[for]", "labels => labels.map(l => l.textContent.replace(/\\s+/g, ' ').trim())"
    )
    assert "Address" in labels and "Applicant's address" in labels
    assert len(labels) == len(set(labels)), labels


def test_case_page_labels_are_shown_whole_and_the_dram_sign_has_a_font(page, live_server, sign_in):
    """Issue 8: form-data labels on the case page were cut with "…", and ֏ was an empty box
    where the machine has no Armenian font (the app served its font only to PDFs)."""
    from app.testing import apply, attach

    filed = apply(
        live_server,
        "residence-certificate",
        municipality="alpha",
        data={"address": "Alpha 1", "purpose": "bank", "copies": "1"},
        documents={"identity": [attach("pdf", "passport.pdf")]},
    )
    sign_in(page, "alpha.clerk")
    page.goto(f"{live_server.live_url}/workspace/applications/{filed.id}")
    cut = page.eval_on_selector_all(
        "dl dt", "terms => terms.filter(t => t.scrollWidth > t.clientWidth).map(t => t.textContent.trim())"
    )
    assert page.locator("dl dt").count() > 3 and cut == []
    # The Armenian font is served to the page and is what draws ֏.
    font = page.request.get(f"{live_server.live_url}/static/fonts/NotoSansArmenian-Regular.ttf")
    assert font.ok and len(font.body()) > 10_000
    assert page.evaluate("document.fonts.load('16px \"Hamaynk Armenian\"', '֏').then(f => f.length)") >= 1

"""The service builder's script, used by keyboard in a real browser: keys follow the title,
only the chosen field's values show in a condition, and what is picked is what is stored."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import ServiceDefinition

BASE = "/admin/builder"


def rows(app, key):
    with app.app_context():
        return [
            r.definition
            for r in db.session.execute(
                select(ServiceDefinition).where(ServiceDefinition.key == key).order_by(ServiceDefinition.version)
            ).scalars()
        ]


def test_the_builder_script_makes_keys_and_shows_only_the_chosen_fields_values_by_keyboard(page, live_server, sign_in):
    url = live_server.live_url
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, "alpha.municipal_admin")
    page.goto(f"{url}{BASE}/new?_l_=en")
    # Keys follow the Armenian title while typing...
    page.focus("#title_hy")
    page.keyboard.type("Ծառահատման թույլտվություն")
    assert page.input_value("#key") == "tsarahatman-tuyltvutyun"
    page.focus("#fields-0-label_hy")
    page.keyboard.type("Տեսակ")
    assert page.input_value("#fields-0-name") == "tesak"
    # ...the choices box shows only for choice kinds...
    assert not page.is_visible("#fields-0-choices")
    page.focus("#fields-0-type")
    page.select_option("#fields-0-type", "choice")
    assert page.is_visible("#fields-0-choices")
    page.fill("#fields-0-choices", "Կաղնի|Oak\nՍոճի|Pine")
    # ...and "Add a question" (a plain submit, Enter on it) brings the field into conditions
    # and puts the cursor in the new question.
    page.focus("button[name=add_row][value=fields]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.input_value("#key") == "tsarahatman-tuyltvutyun"
    assert page.evaluate("document.activeElement.id") == "fields-1-label_hy"
    page.keyboard.type("Նշում")
    page.click("#fields-1 summary")
    # Without a field picked, no value and no comparison show.
    assert not page.is_visible("#fields-1-visible_when-0-value")
    assert not page.is_visible("#fields-1-visible_when-0-op")
    page.focus("#fields-1-visible_when-0-field")
    page.select_option("#fields-1-visible_when-0-field", "tesak")
    # Only the chosen field's values show, as ticks; the typed value box is hidden.
    group = "#fields-1 [data-options-for=tesak]"
    assert page.is_visible(f"{group} >> nth=0") and not page.is_visible("#fields-1-visible_when-0-value")
    boxes = page.locator(f"{group} >> nth=0").locator("input[type=checkbox]")
    boxes.nth(0).focus()
    page.keyboard.press("Space")
    boxes.nth(1).focus()
    page.keyboard.press("Space")
    # "is" compares with one value: ticking the second unticked the first.
    assert [boxes.nth(i).is_checked() for i in range(2)] == [False, True]
    page.select_option("#fields-1-visible_when-0-op", "set")
    assert not page.is_visible(f"{group} >> nth=0")
    page.select_option("#fields-1-visible_when-0-op", "eq")
    page.fill("#steps-0-title_hy", "Ուսումնասիրում")
    with page.expect_navigation():
        page.click("button.btn-primary[type=submit]")
    assert page.url.endswith(f"{BASE}/"), page.content()[:2000]
    assert errors == []
    [definition] = rows(live_server, "tsarahatman-tuyltvutyun")
    assert definition["fields"][1]["visible_when"] == [{"field": "tesak", "op": "eq", "value": "sochi"}]
    assert definition["steps"][0]["key"] == "usumnasirum"

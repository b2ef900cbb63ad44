"""(e) Stored XSS: a marker through every free-text field of every form (found by crawling,
forms.py) and the applicant's name, then every page, PDF and e-mail that can show it fetched:
the marker appears only escaped (in PDFs only as text)."""

from __future__ import annotations

from app.testing import apply

from .conftest import FULL, IN_CI, SERVICE
from .forms import FUZZERS, discover, fuzzer_rows, pages

# Its own municipality and resident (conftest.Live.playground): the fuzzers may have changed
# gamma's accounts and services; injecting needs every form there.
PLAYGROUND = "zeta"

MARKER = "<script>x9()</script>\"'><img src=x onerror=x9()>"
RAW = ("<script>x9()", "<img src=x onerror=x9()>", "onerror=x9()>")
# Who reads every page afterwards. CI reads as the three whose pages differ most (the
# administrator's screens, the clerk's workspace, the citizen's portal); the head, the
# auditor and the system administrator see a subset of those with the same templates.
# HAMAYNK_HOSTILE_FULL=1 (or a run outside CI) reads as all six.
READERS = ("municipal_admin", "clerk", "head", "auditor", "citizen_c", "system_admin")
if IN_CI and not FULL:
    READERS = ("municipal_admin", "clerk", "citizen_c")


def _inject(live) -> int:
    injected = 0
    for role in FUZZERS:
        if role == "anonymous":
            continue
        session = live.login(role, PLAYGROUND)
        for form in discover(live, session, fuzzer_rows(live, role, PLAYGROUND)):
            if form.method != "POST" or not form.text:
                continue
            data = dict(form.fields)
            for name in form.text:
                data[name] = MARKER
            session.post(form.action, data=data, timeout=120, allow_redirects=False)
            injected += 1
    return injected


def test_a_stored_marker_is_only_ever_shown_escaped(live):
    # The applicant's name, as the office files it (the form needs a valid document set).
    live.playground(PLAYGROUND)
    filed = apply(live.app, SERVICE, municipality=PLAYGROUND, applicant_name=MARKER)
    injected = _inject(live)
    problems = []
    fetched = 0
    own = {**fuzzer_rows(live, "clerk", PLAYGROUND), "application_id": filed.id}
    for role in READERS:
        session = live.session(role, PLAYGROUND)
        for _rule, path in pages(live, own, api=True):
            response = session.get(live.url(path + "?_l_=en"), timeout=120)
            fetched += 1
            if response.status_code != 200:
                continue
            ctype = response.headers.get("Content-Type", "")
            if ctype.startswith("application/pdf"):
                continue  # a PDF holds text; nothing in it runs (checked below)
            for raw in RAW:
                if raw in response.text:
                    problems.append(f"{role} {path} ({ctype}) shows {raw!r} unescaped")
    # The receipt PDF of the marked application: text, no JavaScript or forms.
    receipt = live.session("clerk", PLAYGROUND).get(live.url(f"/office/receipt/{filed.id}/receipt.pdf"), timeout=120)
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    assert (
        b"/JavaScript" not in receipt.content and b"/JS" not in receipt.content and b"/AcroForm" not in receipt.content
    )
    for _from, _to, message in live.smtp.messages:
        for part in message.walk():
            if part.get_content_type() == "text/html":
                html = part.get_content()
                for raw in RAW:
                    if raw in html:
                        problems.append(f"e-mail {message['Subject']!r} shows {raw!r} unescaped")
    print(f"\nstored XSS: {injected} forms injected, {fetched} pages fetched, {len(live.smtp.messages)} e-mails read")
    assert injected > 5
    assert not problems, "\n".join(problems[:30])

"""(b) Every state-changing route (POST, PUT, PATCH, DELETE in the URL map) refuses a
cookie-authenticated request without a CSRF token, and changes nothing."""

from __future__ import annotations

import pytest

from .crawl import build_url, crawled_rules, form_for, table_counts

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Deliberately exempt, each for a reason: a payment gateway's server-to-server callback (its
# signature is the proof), and mail programs' one-click unsubscribe (RFC 8058; the signed
# link is the secret).
EXEMPT = {"pay.callback", "notices.unsubscribe"}
# Token endpoints of the API: they take credentials, not cookies.
TOKEN_ENDPOINTS = {"SecurityApi.login", "SecurityApi.refresh"}


@pytest.mark.parametrize("role", ["system_admin", "municipal_admin", "citizen_a"])
def test_no_state_change_without_a_csrf_token(live, role):
    alpha, citizen = live.victims["alpha"], live.victims["citizen_a"]
    own = {**alpha, **citizen} if role == "citizen_a" else {**citizen, **alpha}
    session = live.session(role, "alpha")
    before = table_counts(live.app)
    problems = []
    tried = 0
    for rule in crawled_rules(live.app):
        methods = (rule.methods or set()) & STATE_CHANGING
        if not methods or rule.endpoint in EXEMPT or rule.endpoint in TOKEN_ENDPOINTS:
            continue
        url = live.url(build_url(rule, own))
        for method in sorted(methods):
            tried += 1
            if rule.rule.startswith("/api/"):
                # The browser's cookie alone, as a forged cross-site request would carry it.
                response = session.request(
                    method, url, json={"action": "approve", "expected_version": 1}, allow_redirects=False, timeout=60
                )
                ok = response.status_code in (400, 401, 403, 404, 405, 422)
            else:
                # FAB's bulk actions too: a real one, so only the missing token can refuse it.
                data = {**form_for(own), "action": "muldelete"}
                response = session.request(method, url, data=data, allow_redirects=False, timeout=60)
                # An action a view does not have is refused before the token is looked at
                # (app/cleaning.py): nothing to forge there.
                ok = response.status_code == 400 or (
                    response.status_code == 404 and rule.endpoint.endswith(".action_post")
                )
            if not ok:
                problems.append(f"{role} {method} {url} ({rule.endpoint}) -> {response.status_code}")
    print(f"\nCSRF: {tried} state-changing requests without a token as {role}")
    assert tried > 50
    assert not problems, "\n".join(problems)
    assert table_counts(live.app) == before


def test_signing_in_needs_a_token_too(live):
    """Login CSRF: a forged form must not sign the victim's browser into the attacker's account."""
    import requests

    for path, data in (
        ("/login/", {"username": "alpha.clerk", "password": "test-password-123"}),
        ("/account/login", {"email": "citizen.a@example.com", "password": "test-password-123"}),
    ):
        response = requests.post(live.url(path), data=data, allow_redirects=False, timeout=30)
        assert response.status_code == 400, path

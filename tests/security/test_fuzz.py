"""(d) Every form the pages render (found by crawling them, tests/security/forms.py) and every
API body, sent hostile values: huge integers, lone surrogates, NUL and other controls, file
parts where text is expected, wrong JSON types, oversized values. Never a 500."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from .conftest import as_roles, csrf_token
from .forms import FUZZERS, discover, fuzzer_rows

# Raw, already percent-encoded values: a lone surrogate cannot be encoded as UTF-8 any other way.
HOSTILE = {
    "huge-int": quote("9" * 40),
    "int64+1": "9223372036854775808",
    "int64-2": "-9223372036854775809",
    "surrogate": "%ED%A0%80",
    "bad-utf8": "%FF%FE%C0%AF",
    "nul": "a%00b",
    "controls": "%01%1B%5B31m%7F%08",
    "oversized": "x" * 200_000,
    "float": "1e309",
    "nan": "NaN",
    "unicode": quote("\u202e\ufeff𝕏١٢٣"),
    "format": quote("%s%n{0}{{7*7}}${7*7}"),
    "path": quote("../../../etc/passwd"),
    "empty": "",
}
FUZZ_CASES: list[int] = []


def _body(form, value: str) -> str:
    pairs = []
    for name, baseline in form.fields.items():
        if name == "csrf_token":
            pairs.append(f"csrf_token={quote(baseline)}")
        else:
            # Each field twice: what a view does with a list where it expects one value.
            pairs.append(f"{quote(name)}={value}")
            pairs.append(f"{quote(name)}={value}")
    return "&".join(pairs)


@pytest.mark.parametrize("role", as_roles(FUZZERS))
def test_hostile_values_in_every_form_are_no_500(live, role):
    session = live.login(role, "gamma") if role != "anonymous" else live.login("anonymous")
    forms = discover(live, session, fuzzer_rows(live, role))
    assert forms, role
    problems = []
    cases = 0
    for form in forms:
        token = csrf_token(session, live.base, "/login/") if "csrf_token" not in form.fields else None
        if token:
            form.fields["csrf_token"] = token
        for label, value in HOSTILE.items():
            cases += 1
            body = _body(form, value)
            if form.method == "GET":
                response = session.get(f"{form.action.split('?')[0]}?{body}", timeout=120, allow_redirects=False)
            else:
                response = session.post(
                    form.action,
                    data=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    timeout=120,
                    allow_redirects=False,
                )
            if response.status_code >= 500:
                problems.append(f"{role} {form.method} {form.action} [{label}] -> {response.status_code}")
        if form.method == "POST":
            # Every field a file part, where text is expected.
            cases += 1
            files = {name: (f"{name}.txt", b"\x00\xffnot text") for name in form.fields if name != "csrf_token"}
            response = session.post(
                form.action,
                data={"csrf_token": form.fields.get("csrf_token", "")},
                files=files or {"x": ("x", b"x")},
                timeout=120,
                allow_redirects=False,
            )
            if response.status_code >= 500:
                problems.append(f"{role} POST {form.action} [file parts] -> {response.status_code}")
    FUZZ_CASES.append(cases)
    print(f"\nfuzz: {cases} hostile submissions to {len(forms)} forms as {role}")
    assert not problems, "\n".join(problems[:40])


DEEP: list = []
for _ in range(60):
    DEEP = [DEEP]
JSON_BODIES = [
    [],
    "text",
    12,
    None,
    {"service": 10**40, "municipality": "\ud800", "data": []},
    {"service": "residence-certificate", "data": {"address": "\ud800", "copies": 10**40, "purpose": [None]}},
    {"service": "residence-certificate", "data": {"address": "a\x00b"}, "applicant": {"name": {"x": 1}}},
    {"service": "residence-certificate", "data": "x" * 300_000},
    {"action": 10**40, "expected_version": "NaN", "comment": "\ud800"},
    {"action": "approve", "expected_version": 2**63, "comment": None},
    {"action": ["approve"], "expected_version": -(2**63) - 1},
    {"username": "\ud800", "password": 10**40, "provider": ["db"]},
    {"username": "a\x00", "password": "x" * 300_000, "provider": "db"},
    {"refresh_token": {"x": [1]}},
    {"a": DEEP},
]
RAW_BODIES = [b"[" * 100_000 + b"]" * 100_000, b'{"a": "\\ud800"}', b"\xff\xfe\x00", b'{"a": 1e999999}', b"{" * 10]


def test_hostile_api_bodies_are_no_500(live):
    import json

    import requests

    token = live.token("clerk", "gamma")
    app_id = live.victims["gamma"]["application_id"]
    endpoints = [
        "/api/v1/applications",
        f"/api/v1/applications/{app_id}/actions",
        "/api/v1/security/login",
        "/api/v1/security/refresh",
    ]
    problems = []
    cases = 0
    for path in endpoints:
        for body in [*(json.dumps(b).encode() for b in JSON_BODIES), *RAW_BODIES]:
            for ctype in ("application/json", "text/plain"):
                cases += 1
                response = requests.post(
                    live.url(path),
                    data=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
                    timeout=120,
                )
                if response.status_code >= 500:
                    problems.append(f"POST {path} {body[:60]!r} ({ctype}) -> {response.status_code}")
    for query in (
        "page=99999999999999999999999",
        "page_size=-1",
        "q=%00",
        "q=%ED%A0%80",
        "service=%FF",
        "status=" + "x" * 5000,
    ):
        cases += 1
        response = requests.get(
            live.url(f"/api/v1/applications?{query}"), headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        if response.status_code >= 500:
            problems.append(f"GET /api/v1/applications?{query[:60]} -> {response.status_code}")
    FUZZ_CASES.append(cases)
    print(f"\nfuzz: {cases} hostile API requests")
    assert not problems, "\n".join(problems)


def test_ids_in_url_paths_beyond_the_columns_range_are_no_500(live):
    """Flask's ``<int:...>`` takes any size; PostgreSQL's integer columns end at 2**31 - 1."""
    import requests

    from .crawl import ID_PARAMETERS, crawled_rules

    session = live.session("head", "alpha")
    token = live.token("head", "alpha")
    problems = []
    for rule in crawled_rules(live.app):
        if not (set(rule.arguments) & (ID_PARAMETERS | {"pk"})) or "GET" not in (rule.methods or set()):
            continue
        for big in (2**31, 2**63, 10**30):
            path = re.sub(r"<[^>]+>", str(big), rule.rule)
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
            response = (requests if headers else session).get(live.url(path), headers=headers, timeout=60)
            if response.status_code >= 500:
                problems.append(f"GET {path} -> {response.status_code}")
    assert not problems, "\n".join(problems)

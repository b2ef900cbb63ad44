"""(j) schemathesis against the API's own OpenAPI spec, over HTTP with a signed-in token:
generated requests (positive and negative) to every operation, never a server error. CI runs a
bounded number of examples per operation; HAMAYNK_SCHEMATHESIS_EXAMPLES sets the full count
(docs/security.md)."""

from __future__ import annotations

import os

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from .conftest import IN_CI

EXAMPLES = int(os.environ.get("HAMAYNK_SCHEMATHESIS_EXAMPLES") or (15 if IN_CI else 50))
CALLS: list[str] = []


def test_the_api_spec_gives_no_server_errors(live):
    token = live.token("head", "alpha")
    headers = {"Authorization": f"Bearer {token}"}
    spec = requests.get(live.url("/api/v1/_openapi"), headers=headers, timeout=30)
    assert spec.status_code == 200
    schema = schemathesis.openapi.from_dict(spec.json())
    session = requests.Session()
    errors: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(live, session, headers, operation, mode, errors)
    print(f"\nschemathesis: {len(CALLS)} generated requests over {operations} API operations")
    assert operations >= 5
    assert not errors, "\n".join(errors[:20])


def _run(live, session, headers, operation, mode, errors: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case) -> None:
        response = case.call(base_url=live.base, session=session, headers=headers, timeout=60)
        CALLS.append(operation.label)
        if response.status_code >= 500:
            errors.append(f"{operation.label} -> {response.status_code}: {case.as_curl_command()}")

    call()

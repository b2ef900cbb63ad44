"""Valid sample input for the built-in services, for tests and for trying them out.

``app.testing.sample_data`` fills every field from its declaration; these are the values a
declaration cannot express (patterns, plug-in validators, related dates and times).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.sdk import office_today


def overrides(service_key: str) -> dict[str, Any]:
    """The values ``service_key`` needs beyond ``sample_data``'s defaults (fresh each call:
    some depend on today's date)."""
    four_years_ago = office_today() - dt.timedelta(days=4 * 365)
    table: dict[str, dict[str, Any]] = {
        "address-assignment": {"cadastral_code": "01-001-0001-0001"},
        "construction-permit": {"cadastral_code": "01-001-0001-0001"},
        "social-assistance": {"bank_account": "1234567890123456"},
        "trade-permit": {"tax_id": "12345678"},
        "kindergarten-enrolment": {
            "child_birth_date": four_years_ago.isoformat(),
            "second_choice": "",
            "third_choice": "",
        },
        "public-event": {"start_time": "10:00", "end_time": "18:00"},
    }
    return dict(table.get(service_key, {}))

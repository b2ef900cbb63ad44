"""Public pages: the list of municipalities, each one's catalogue of services, a service's page."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("site", __name__)

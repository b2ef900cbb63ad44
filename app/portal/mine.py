""" "My applications": status in plain words, timeline, documents, corrections, withdrawal; public status look-up and claiming a walk-in application."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mine", __name__)

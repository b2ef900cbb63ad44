"""Questions to the specialist, the citizen's side (staff answer in app.workspace)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("questions", __name__)

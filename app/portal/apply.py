"""The online application: drafts (save, resume, delete) and the guided form (guide, form, documents, fee, confirm)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("apply", __name__)

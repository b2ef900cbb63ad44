"""In-app notices (the bell with the unread count) and unsubscribing from e-mails that are not essential."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("notices", __name__)

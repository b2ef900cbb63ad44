"""Citizen accounts: registration with e-mail verification, sign-in and sign-out, password reset, profile."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("account", __name__)

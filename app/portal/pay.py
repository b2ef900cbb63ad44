"""Fees and payments: the fee step, payment providers' redirects and callbacks."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pay", __name__)

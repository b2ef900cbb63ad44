"""Fixtures for the reliability suite come from tests/conftest.py (app, client, postgres_url, ...)."""

"""The hostile suite: attacks on a real HTTP server (tests/security/conftest.py)."""

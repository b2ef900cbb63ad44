"""Fault-injection tests: kills, outages and races against real servers (issue 12)."""

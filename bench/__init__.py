"""Hamaynk's data generator and benchmark runner (issue 13): ``python3 -m bench --help``.

See bench/README.md for the commands and docs/performance.md for how to read the results.
"""

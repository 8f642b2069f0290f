"""Benchmarks: separate commands that print figures; tests never assert on time."""

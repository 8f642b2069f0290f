"""Benchmarks: the bot under load against bare echo bots (python -m bench)."""

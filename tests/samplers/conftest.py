"""Fixtures live in tests/conftest.py."""

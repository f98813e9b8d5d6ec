"""Fixtures that start real servers. Imported by tests/conftest.py."""

"""Data subject requests."""

"""The JSON API (django-ninja)."""

"""The console script and management commands."""

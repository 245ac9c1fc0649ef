"""The staff UI."""

"""Newsletters, campaigns, sends and unsubscribe."""

"""Staff users, roles and API clients."""

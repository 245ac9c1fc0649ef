"""Forms, chat, orders, events, site visits and register import."""

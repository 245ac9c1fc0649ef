"""Project configuration: settings from TILLIT_* environment variables, URLs, WSGI/ASGI."""

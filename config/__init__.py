"""Project configuration: settings, the ASGI protocol router and URLs."""

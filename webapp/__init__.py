"""Bottega's Django project: settings, URLs, the ASGI app and the product apps."""

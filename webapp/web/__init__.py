"""Shared web helpers that several apps use: access, enqueue, files, sockets, error pages, sizes,
and the ASGI wrappers (proxies, back-pressure). No app of its own: no models, no URLs."""

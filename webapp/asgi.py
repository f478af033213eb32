"""The ASGI application: HTTP through Django, websockets through Channels.

Both see the client and scheme a trusted reverse proxy names, never what a client claims
(webapp/web/proxies.py). Websockets pass `AllowedHostsOriginValidator(AuthMiddlewareStack(...))`
(docs/architecture.md, "Security"). HTTP responses that stream wait for the client under
daphne (webapp/web/backpressure.py), so a big download does not pile up in memory.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django_asgi_app = get_asgi_application()  # before importing consumers: it sets up Django

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from webapp.routing import websocket_urlpatterns  # noqa: E402
from webapp.web.backpressure import flow_controlled  # noqa: E402
from webapp.web.proxies import behind_proxies  # noqa: E402

application = behind_proxies(
    ProtocolTypeRouter(
        {
            "http": flow_controlled(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    )
)

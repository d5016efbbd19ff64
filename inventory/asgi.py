"""The single ASGI application: Django for every path, plus mounted sub-apps.

Django's ASGIHandler rejects ``lifespan`` scopes, so this small dispatcher owns the
lifespan itself and runs the startup/shutdown of every mounted app (the MCP gateway's
session manager, for one). Mounts route exact paths only: no redirects, no slashes added.
"""

import contextlib
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory.settings")
# On PostgreSQL the web process's worker threads share a pool of connections (see settings).
os.environ.setdefault("DATABASE_POOL", "on")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from inventory import runtime  # noqa: E402

if runtime.enabled("threaded_handler"):
    from inventory.runtime.asgi_handler import ThreadedASGIHandler

    django_app = ThreadedASGIHandler()
else:  # FAST_PATHS off: Django's own handler (settings put ASYNC_MIDDLEWARE into MIDDLEWARE)
    from django.core.asgi import get_asgi_application

    django_app = get_asgi_application()


def _mounts():
    """(paths, asgi app, lifespan context factory or None) of each mounted app."""
    try:
        from mcp_gateway.asgi import mounts
    except ImportError:
        return []
    return mounts()


MOUNTS = _mounts()


async def _lifespan(receive, send):
    stack = contextlib.AsyncExitStack()
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                for _paths, _app, lifespan in MOUNTS:
                    if lifespan is not None:
                        await stack.enter_async_context(lifespan())
            except Exception as exc:  # pragma: no cover - reported to the server
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stack.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] in ("http", "websocket"):
        path = scope.get("path", "")
        for paths, app, _lifespan_factory in MOUNTS:
            if path in paths:
                return await app(scope, receive, send)
    return await django_app(scope, receive, send)


if settings.TRUSTED_PROXIES:
    # X-Forwarded-For/-Proto only from these addresses: the client IP in rate limits, audit rows
    # and logs is otherwise the TCP peer (uvicorn runs with --no-proxy-headers)
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware  # noqa: E402

    application = ProxyHeadersMiddleware(application, trusted_hosts=settings.TRUSTED_PROXIES)

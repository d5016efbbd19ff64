"""Django under ASGI with one thread hop per request.

Django's stock ASGIHandler runs the middleware chain in async mode. With sync middleware and
sync views (DRF, the admin) that costs a thread switch per middleware hook, an async-to-sync
bridge around auditlog's sync-only middleware, and a new thread per request: ~3 ms of CPU
before the view starts, more than most of our views take.

This handler reads the body on the event loop, then runs the whole request in one call to a
pooled worker thread (:mod:`inventory.runtime.threads`), as a WSGI server would: ``request_started``,
the sync middleware chain, the view, and ``response.close()`` (``request_finished``, which
hands the DB connection back) for responses that are not streamed. Static files, the one
async-only middleware (ServeStatic, ``ASYNC_MIDDLEWARE``), are answered on the event loop
before any thread is involved.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

from inventory.runtime.threads import run_sync


class ThreadedASGIHandler(ASGIHandler):
    def __init__(self):
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)  # settings.MIDDLEWARE: sync middleware only
        outer = self._threaded
        for path in reversed(settings.ASYNC_MIDDLEWARE):
            outer = import_string(path)(outer)
        self._outer = outer

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            response = error_response
        else:
            response = await self._outer(request)
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        await self.send_response(response, send)
        if not getattr(response, "_closed_in_thread", False):  # streamed, static or an error
            await run_sync(response.close)

    async def _threaded(self, request):
        return await run_sync(self._respond, request)

    def _respond(self, request):
        set_script_prefix(get_script_prefix(request.scope))
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        response = self.get_response(request)
        response._handler_class = self.__class__
        if not response.streaming:
            response.close()  # request_finished: connections go back before the bytes go out
            response._closed_in_thread = True
        return response

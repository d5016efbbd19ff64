"""The legacy HTTP+SSE transport behind several workers, with no sticky sessions.

A client opens ``GET /mcp/sse`` (the stream lives in the worker that accepted it), then POSTs
each message to ``/mcp/messages?session_id=…``: a load balancer, or uvicorn's workers sharing
one socket, may hand that POST to any worker. The SDK's transport only knows its own worker's
sessions, so a worker that does not hold the session relays the message through Redis:

- every worker listens on its own channel, ``mcp:sse:worker:<id>``;
- while a stream is open, ``mcp:sse:session:<hex>`` names its worker and the credential that
  opened it (expiring, refreshed while the stream lives, removed when it closes);
- a POST for a session held elsewhere is checked where it arrives (Host/Origin, body size,
  JSON-RPC shape: 400; another credential than the opener's: 404, as the SDK answers) and
  published to the holder's channel: ``202`` once the holder received it, ``404`` when no
  worker holds the session;
- the holder replays it into the SDK's own message handler with the caller's identity (the
  :class:`~mcp_gateway.server.CallerEnv`, which carries no secret), so the SDK's checks and the
  same tools run as for a POST it received itself.

Without ``REDIS_URL`` (one process) there is nothing to relay: the SDK answers every POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import uuid

import mcp_types as types
from django.conf import settings
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.sse import SseServerTransport
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, RequestBodyLimitMiddleware
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

logger = logging.getLogger(__name__)

SESSION_KEY = "mcp:sse:session:{}"
WORKER_CHANNEL = "mcp:sse:worker:{}"
#: a session's record outlives a silent worker by at most this long; refreshed at a third of it
SESSION_TTL = 600
#: a POST may arrive before the opening worker has recorded the session: look again this often
_REGISTRATION_WAITS = (0.02, 0.05, 0.1, 0.2)


class _Sessions(dict):
    """The SDK transport's ``session id → stream writer`` map, telling the relay when a stream
    opens and closes."""

    def __init__(self, relay: "SseRelay"):
        super().__init__()
        self.relay = relay

    def __setitem__(self, session_id, writer):
        super().__setitem__(session_id, writer)
        self.relay.opened(session_id)

    def pop(self, session_id, *default):
        value = super().pop(session_id, *default)
        self.relay.closed(session_id)
        return value


class SseRelay:
    """Wraps a :class:`SseServerTransport`: ``handle_post_message`` for ``/mcp/messages`` and
    ``lifespan`` for the worker's listener."""

    def __init__(self, sse: SseServerTransport, redis_url: str | None = None):
        self.sse = sse
        self.redis_url = settings.REDIS_URL if redis_url is None else redis_url
        self.worker = uuid.uuid4().hex
        self.redis = None
        self._queues: dict[uuid.UUID, asyncio.Queue] = {}
        self._tasks: set[asyncio.Task] = set()
        sse._read_stream_writers = _Sessions(self)
        self.handle_post_message = RequestBodyLimitMiddleware(self._handle_post, DEFAULT_MAX_REQUEST_BODY_SIZE)

    # --- the worker that holds a stream ----------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self):
        """Connect and subscribe in the background: the web process starts (REST, admin and
        stateless MCP work) while Redis is unreachable; until it answers, the relay reports
        itself :attr:`unavailable` and tries again with a growing delay."""
        if not self.redis_url:
            yield
            return
        connector = asyncio.create_task(self._connect())
        try:
            yield
        finally:
            connector.cancel()
            for task in (connector, *self._tasks):
                with contextlib.suppress(BaseException):
                    await task
            self.redis = None

    @property
    def unavailable(self) -> bool:
        """Redis is configured but not (yet, or no longer) connected."""
        return bool(self.redis_url) and self.redis is None

    async def _connect(self) -> None:
        import redis.asyncio as redis

        delay = 0.5
        while True:
            client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(WORKER_CHANNEL.format(self.worker))
            except Exception as exc:  # noqa: BLE001 - unreachable: the relay stays unavailable
                logger.warning("MCP SSE relay: Redis unreachable (%s); the legacy SSE transport is unavailable "
                               "until it answers", exc)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)
                continue
            self.redis = client
            logger.info("MCP SSE relay: listening on Redis")
            for session_id in list(self.sse._read_stream_writers):  # opened while it was away
                self.opened(session_id)
            listener = asyncio.create_task(self._listen(pubsub))
            refresher = asyncio.create_task(self._refresh())
            try:
                await asyncio.gather(listener, refresher)
            finally:
                listener.cancel()
                refresher.cancel()
                for task in (listener, refresher):
                    with contextlib.suppress(BaseException):
                        await task
                self.redis = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()

    def opened(self, session_id: uuid.UUID) -> None:
        if self.redis is not None:
            self._spawn(self._record(session_id))

    def closed(self, session_id: uuid.UUID) -> None:
        queue = self._queues.pop(session_id, None)
        if queue is not None:
            queue.put_nowait(None)
        if self.redis is not None:
            self._spawn(self._forget(session_id))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, session_id: uuid.UUID) -> None:
        owner = self.sse._session_owners.get(session_id)
        await self.redis.set(SESSION_KEY.format(session_id.hex), pickle.dumps((self.worker, owner)), ex=SESSION_TTL)
        if session_id not in self.sse._read_stream_writers:  # closed while this was on its way
            await self._forget(session_id)

    async def _forget(self, session_id: uuid.UUID) -> None:
        key = SESSION_KEY.format(session_id.hex)
        record = await self.redis.get(key)
        if record is not None and pickle.loads(record)[0] == self.worker:
            await self.redis.delete(key)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(SESSION_TTL / 3)
            for session_id in list(self.sse._read_stream_writers):
                with contextlib.suppress(Exception):
                    await self._record(session_id)

    async def _listen(self, pubsub) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._accept(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # a dropped connection: subscribe again
                logger.exception("SSE relay listener failed; resubscribing")
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(WORKER_CHANNEL.format(self.worker))

    def _accept(self, data: bytes) -> None:
        """A relayed POST: queue it behind the session's earlier messages (kept in order)."""
        relayed = pickle.loads(data)
        session_id = relayed["session_id"]
        if session_id not in self.sse._read_stream_writers:
            logger.info("relayed message for SSE session %s, which has closed here", session_id.hex)
            return
        queue = self._queues.get(session_id)
        if queue is None:
            queue = self._queues[session_id] = asyncio.Queue()
            self._spawn(self._deliver(queue))
        queue.put_nowait(relayed)

    async def _deliver(self, queue: asyncio.Queue) -> None:
        while (relayed := await queue.get()) is not None:
            try:
                await self._replay(relayed)
            except Exception:  # noqa: BLE001 - one bad message must not stop the session's others
                logger.exception("could not deliver a relayed SSE message")

    async def _replay(self, relayed: dict) -> None:
        """Hand the message to the SDK's own handler, as if this worker had received the POST."""
        body = relayed["body"]
        env = relayed["env"]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": relayed["path"], "raw_path": relayed["path"].encode(), "root_path": "",
            "query_string": f"session_id={relayed['session_id'].hex}".encode(),
            "headers": relayed["headers"], "client": relayed["client"], "server": None,
            "state": {"mcp_env": env}, "user": authenticated_user(env.principal),
        }
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = []

        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await self.sse.handle_post_message(scope, receive, send)
        if status and status[0] >= 400:
            logger.warning("relayed SSE message refused by the transport: HTTP %s", status[0])

    # --- any worker: a POST --------------------------------------------------------------
    async def _handle_post(self, scope, receive, send) -> None:
        session_id = _session_id(scope)
        if session_id is not None and session_id not in self.sse._read_stream_writers and self.unavailable:
            return await unavailable_response(scope, receive, send)
        if self.redis is None or session_id is None or session_id in self.sse._read_stream_writers:
            return await self.sse.handle_post_message(scope, receive, send)  # the SDK answers
        if scope["method"] != "POST":
            return await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
        request = Request(scope, receive)
        refused = await self.sse._security.validate_request(request, is_post=True)
        if refused is not None:
            return await refused(scope, receive, send)
        body = await request.body()
        try:
            types.jsonrpc_message_adapter.validate_json(body, by_name=False)
        except ValidationError:
            return await Response("Could not parse message", status_code=400)(scope, receive, send)
        user = scope.get("user")
        caller = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        holder = await self._holder(session_id)
        if holder is None or holder[1] != caller:  # unknown, closed, or opened with another credential
            return await Response("Could not find session", status_code=404)(scope, receive, send)
        relayed = pickle.dumps({
            "session_id": session_id, "body": body, "env": scope["state"]["mcp_env"], "path": scope["path"],
            "client": scope.get("client"),
            "headers": [(k, v) for k, v in scope["headers"] if k not in (b"authorization", b"cookie")],
        })
        if not await self.redis.publish(WORKER_CHANNEL.format(holder[0]), relayed):
            return await Response("Could not find session", status_code=404)(scope, receive, send)
        await Response("Accepted", status_code=202)(scope, receive, send)

    async def _holder(self, session_id: uuid.UUID):
        """(worker id, opener) of an open session, or None."""
        for wait in (0, *_REGISTRATION_WAITS):
            if wait:
                await asyncio.sleep(wait)
            record = await self.redis.get(SESSION_KEY.format(session_id.hex))
            if record is not None:
                return pickle.loads(record)
        return None


async def unavailable_response(scope, receive, send) -> None:
    """503: the legacy SSE transport needs Redis to relay between workers, and it is unreachable."""
    from starlette.responses import JSONResponse

    await JSONResponse(
        {"error": "unavailable", "error_description": "The legacy SSE transport (/mcp/sse) is unavailable: Redis is "
                                                      "unreachable. Use the Streamable HTTP endpoint /mcp."},
        status_code=503, headers={"Retry-After": "5"})(scope, receive, send)


def _session_id(scope) -> uuid.UUID | None:
    from urllib.parse import parse_qs

    value = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id", [None])[0]
    try:
        return uuid.UUID(hex=value) if value else None
    except ValueError:
        return None


def authenticated_user(principal) -> AuthenticatedUser:
    """The identity the SDK binds SSE and stateful sessions to: the credential's client and user."""
    from mcp.server.auth.provider import AccessToken

    subject = str(principal.user.pk)
    client = principal.client_id or f"{principal.via}:{getattr(principal.credential, 'pk', '')}"
    return AuthenticatedUser(AccessToken(
        token=f"{client}:{subject}", client_id=client, scopes=sorted(principal.scopes or []), subject=subject,
    ))

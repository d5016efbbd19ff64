"""Django's Redis cache backend with one connection pool per process, whose ``clear()`` empties
the cache only.

Django keeps a cache object per thread or async context, and the ASGI handler runs each request
in a new one, so the stock ``RedisCache`` builds a new connection pool, with a new TCP
connection, for every request (about 3 ms each on the benchmark), and a new ``redis.Redis``
object for every command. This backend shares one client, with its thread-safe redis-py pool
and ``Redis`` objects, between all cache objects with the same configuration in the process.

Django's ``clear()`` empties the whole Redis database (FLUSHDB). The Celery broker's queues and
the MCP SSE relay's records live in the same database (one ``REDIS_URL``), so here ``clear()``
deletes only the keys this cache made (its ``KEY_PREFIX``).
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class _Client(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._redis: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._redis.get(index)
        if client is None:  # redis.Redis objects are thread-safe; a race makes a spare one
            client = self._redis[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client

    def set_many(self, data, timeout):
        if timeout is None:  # one MSET, atomic by itself: no MULTI/EXEC pipeline around it
            self.get_client(None, write=True).mset({k: self._serializer.dumps(v) for k, v in data.items()})
            return
        super().set_many(data, timeout)


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _Client

    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client

    def clear(self):
        client = self._cache.get_client(write=True)
        pattern = f"{self.key_prefix}:*"  # every key this cache makes: "<prefix>:<version>:<key>"
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
        return True

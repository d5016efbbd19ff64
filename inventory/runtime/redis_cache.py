"""The shared cache on Redis: django-redis (its connection pools are process-wide, shared by every
thread's cache object, where Django's own RedisCache opens pools per thread), with one change.

Django's and django-redis's ``clear()`` empty the whole Redis database (FLUSHDB). The Celery broker's
queues and the MCP SSE relay's records live in the same database (one ``REDIS_URL``), so here
``clear()`` deletes only the keys this cache made (its ``KEY_PREFIX``), with django-redis's own
``delete_pattern``.
"""

from __future__ import annotations

from django_redis.cache import RedisCache as _RedisCache


class RedisCache(_RedisCache):
    def clear(self) -> None:
        self.delete_pattern("*")  # "<prefix>:<version>:*": this cache's keys only

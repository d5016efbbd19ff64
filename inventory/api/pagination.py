from rest_framework.pagination import LimitOffsetPagination

from inventory.runtime.counting import count

#: query parameters that choose a page or its rendering, not which rows match
PAGE_PARAMS = frozenset({"limit", "offset", "ordering", "brief", "fields", "format"})


class Pagination(LimitOffsetPagination):
    """``?limit=`` (default 50, at most 1000) and ``?offset=``; answers carry count, next, previous.

    The count runs on the bare filtered queryset: no annotations, joins or prefetches. With no
    filter parameter it comes from :mod:`inventory.runtime.counting` (exact, cached until a row of the
    kind is created or deleted).
    """

    default_limit = 50
    max_limit = 1000

    view = None

    def paginate_queryset(self, queryset, request, view=None):
        self.view = view
        return super().paginate_queryset(queryset, request, view)

    def get_count(self, queryset):
        plain = getattr(self.view, "plain_queryset", lambda: False)()
        return count(queryset, unfiltered=plain and set(self.request.query_params) <= PAGE_PARAMS)

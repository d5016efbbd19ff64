from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """``?limit=`` (default 50, at most 1000) and ``?offset=``; answers carry count, next, previous.

    The count runs on the bare filtered queryset: no annotations, joins or prefetches.
    """

    default_limit = 50
    max_limit = 1000

    def get_count(self, queryset):
        return queryset.order_by().values("pk").count()

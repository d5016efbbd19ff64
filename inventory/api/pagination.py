from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

from inventory.runtime.counting import count

#: query parameters that choose a page or its rendering, not which rows match
PAGE_PARAMS = frozenset({"limit", "offset", "ordering", "brief", "fields", "format"})
#: the largest ``?offset=`` (a 32-bit integer: every database and JSON client holds it exactly)
MAX_OFFSET = 2**31 - 1


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

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is not None and raw.strip().isdigit() and int(raw) > MAX_OFFSET:
            raise ValidationError({self.offset_query_param: [f"Ensure this value is less than or equal to {MAX_OFFSET}."]})
        return super().get_offset(request)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter["name"] == self.limit_query_param:
                schema.update(minimum=1, maximum=self.max_limit)
            elif parameter["name"] == self.offset_query_param:
                schema.update(minimum=0, maximum=MAX_OFFSET)
        return parameters

    def get_count(self, queryset):
        plain = getattr(self.view, "plain_queryset", lambda: False)()
        return count(queryset, unfiltered=plain and set(self.request.query_params) <= PAGE_PARAMS)

"""The one viewset base every kind uses: restricted querysets, sparse fields with derived
prefetching, the principal in the serializer context, audited writes."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets

from inventory.api.permissions import tenancy_action
from inventory.api.serializers.base import with_related
from inventory import runtime
from inventory.runtime.precompiled import get_visible
from inventory.services.common import check, delete_object
from inventory.tenancy import Action, Principal

FIELD_PARAMS = [
    OpenApiParameter("brief", OpenApiTypes.BOOL, description="Only id, name (or address), display and url."),
    OpenApiParameter("fields", OpenApiTypes.STR, description="Comma-separated field names to return, e.g. id,name,status."),
]


def documented(viewset):
    """Add the ?brief/?fields parameters to the OpenAPI description of list and retrieve."""
    return extend_schema_view(
        list=extend_schema(parameters=FIELD_PARAMS),
        retrieve=extend_schema(parameters=FIELD_PARAMS),
    )(viewset)


class InventoryViewSet(viewsets.ModelViewSet):
    """CRUD for one kind through the tenancy layer.

    - list/retrieve: ``Model.objects.restrict(principal, "view")``; outside it is 404;
    - writes: 403 unless the principal may do the action on the object (checked before
      validation), 403 naming the scope a credential lacks;
    - ``?brief=1`` / ``?fields=a,b`` choose the rendered fields and the joins/prefetches.
    """

    model = None
    create_action = Action.ADD
    ordering_fields = ["id", "name", "created", "updated"]
    extra_query_params: tuple[str, ...] = ()
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    @property
    def principal(self) -> Principal:
        return Principal.of(self.request)

    # --- fields and queryset -------------------------------------------------------------
    def requested_fields(self) -> set[str] | None:
        """Field names asked for by ?brief / ?fields on a read (None: all). 400 on unknown names."""
        if hasattr(self, "_requested_fields"):
            return self._requested_fields
        wanted = None
        if self.request is not None and self.request.method in ("GET", "HEAD"):
            params = self.request.query_params
            serializer_class = self.get_serializer_class()
            if params.get("brief", "").lower() in ("1", "true", "yes"):
                wanted = set(serializer_class.brief_fields)
            elif params.get("brief", "").lower() not in ("", "0", "false", "no"):
                raise exceptions.ValidationError({"brief": ["Use brief=1 or brief=0."]})
            if params.get("fields"):
                names = {f.strip() for f in params["fields"].split(",") if f.strip()}
                available = set(serializer_class(context=self.get_base_context()).fields)
                unknown = names - available
                if unknown:
                    raise exceptions.ValidationError({"fields": [
                        f"Unknown field(s): {', '.join(sorted(unknown))}. Available: {', '.join(sorted(available))}."
                    ]})
                wanted = names if wanted is None else wanted | names
        self._requested_fields = wanted
        return wanted

    def get_queryset(self):
        queryset = self.model.objects.restrict(self.principal, Action.VIEW)
        wanted = self.requested_fields() if self.request is not None else None
        return with_related(queryset, self.get_serializer_class(), wanted)

    def plain_queryset(self) -> bool:
        """Is the list queryset just the restricted model (no view-specific narrowing)?
        Then an unfiltered list's count may come from the cache (inventory.runtime.counting)."""
        return type(self).get_queryset is InventoryViewSet.get_queryset

    def get_base_context(self):
        return {"request": self.request, "format_kwarg": getattr(self, "format_kwarg", None), "view": self,
                "principal": self.principal}

    def get_serializer_context(self):
        context = self.get_base_context()
        context["fields"] = self.requested_fields()
        return context

    # --- permissions ---------------------------------------------------------------------
    def check_create(self, principal: Principal) -> None:
        """403 before validation if the principal may not create this kind anywhere."""
        check(principal, self.create_action, None, f"{self.model._meta.verbose_name_plural}")

    def check_object(self, obj, action: str) -> None:
        check(self.principal, action, obj, f"this {self.model._meta.verbose_name}")

    #: query parameters a detail route accepts (filters and ordering choose rows of a list)
    detail_query_params = frozenset({"brief", "fields", "format"})

    def check_detail_query_params(self) -> None:
        """400 on query parameters a single-object route does not take."""
        unknown = sorted(set(self.request.query_params) - self.detail_query_params)
        if unknown:
            raise exceptions.ValidationError({"detail": (
                f"Unknown query parameter(s) for a single object: {', '.join(unknown)}. "
                f"Allowed: {', '.join(sorted(self.detail_query_params))}.")})

    def filter_queryset(self, queryset):
        if not self.detail:
            return super().filter_queryset(queryset)
        self.check_detail_query_params()
        return queryset

    def get_object(self):
        if self.plain_queryset() and self.lookup_field == "pk" and runtime.enabled("precompiled_reads"):
            # the object as get_queryset() would read it, from a statement compiled once per shape
            self.check_detail_query_params()
            serializer_class, wanted = self.get_serializer_class(), self.requested_fields()
            shape = ("api", self.model, serializer_class, None if wanted is None else frozenset(wanted))
            try:
                obj = get_visible(self.principal, self.model, shape,
                                  lambda: with_related(self.model.objects.all(), serializer_class, wanted),
                                  self.kwargs["pk"])
            except (self.model.DoesNotExist, ValueError, TypeError, OverflowError):
                raise Http404(f"No {self.model._meta.object_name} matches the given query.") from None
            self.check_object_permissions(self.request, obj)
        else:
            obj = super().get_object()
        action = tenancy_action(self, self.request)
        if action != Action.VIEW:
            self.check_object(obj, action)
        return obj

    # --- writes --------------------------------------------------------------------------
    # the audit actor is the session user (AuditlogMiddleware) or the bearer's user
    # (BearerAuthentication): see inventory.auditing
    def perform_destroy(self, instance):
        delete_object(self.principal, instance)

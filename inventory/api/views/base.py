"""The one viewset base every kind uses: restricted querysets, sparse fields with derived
prefetching, the principal in the serializer context, audited writes."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.response import Response
from rest_framework.settings import api_settings

from inventory.api import csv_export
from inventory.api.permissions import tenancy_action
from inventory import runtime
from inventory.api.serializers.base import REF_KEYS, reference_fields, with_related
from inventory.services.common import as_drf_validation_error, check, delete_object, get_for
from inventory.tenancy import Action, Principal

CSV_TEXT = ("`?format=csv`: every matching row (no pages) as a streamed CSV download (text/csv), the filters "
            "applied and the columns chosen by ?fields / ?brief; a reference's column holds its name, a list's "
            "values are joined by commas.")
FIELD_PARAMS = [
    OpenApiParameter("brief", OpenApiTypes.BOOL, description="Only id, name (or address), display and url."),
    OpenApiParameter("fields", OpenApiTypes.STR, description=(
        "Comma-separated field names to return, e.g. id,name,status; a reference's parts as tenant.name "
        "(parts: id, url, display, name). Networks and pools: a list shows `utilisation` only when named here "
        "(a single object always has it).")),
]


#: most items in one bulk request
BULK_MAX = 1000
BULK_ITEMS = {"type": "array", "minItems": 1, "maxItems": BULK_MAX,
              "items": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1}},
                        "required": ["id"]}}


def documented(viewset):
    """Add the ?brief/?fields parameters to the OpenAPI description of list and retrieve, and
    say that create takes a list (the bulk methods are described where they are defined)."""
    return extend_schema_view(
        list=extend_schema(parameters=FIELD_PARAMS, description=CSV_TEXT),
        retrieve=extend_schema(parameters=FIELD_PARAMS),
        create=extend_schema(description=(
            f"Create one, or many with a JSON list: all or nothing (at most {BULK_MAX}); a bad item's errors "
            "are under its index, e.g. {\"2\": {\"name\": [\"...\"]}}.")),
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
    #: ``?format=csv`` besides the project's JSON and browsable renderers
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, csv_export.CSVRenderer]

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
                probe = serializer_class(context=self.get_base_context())
                available = set(probe.fields)
                names = self.reference_keys(names, reference_fields(probe))
                unknown = names - available
                if unknown:
                    raise exceptions.ValidationError({"fields": [
                        f"Unknown field(s): {', '.join(sorted(unknown))}. Available: {', '.join(sorted(available))}."
                    ]})
                wanted = names if wanted is None else wanted | names
            on_request = getattr(serializer_class, "on_request_fields", ())
            if (wanted is None and on_request and not getattr(self, "detail", False)
                    and not getattr(self, "swagger_fake_view", False)):  # the schema shows every field
                # a list's costlier fields (utilisation) only when ?fields= names them
                probe = serializer_class(context=self.get_base_context())
                wanted = set(probe.fields) - set(on_request)
        self._requested_fields = wanted
        return wanted

    def reference_keys(self, names: set[str], references: list[str]) -> set[str]:
        """``tenant.name``-style names: the part of a nested reference to show. Returns the names
        with those replaced by their field (``tenant``); 400 on a bad part."""
        keys, plain = {}, set()
        for name in names:
            field, dot, key = name.partition(".")
            if not dot:
                plain.add(name)
                continue
            if field not in references or key not in REF_KEYS:
                raise exceptions.ValidationError({"fields": [
                    f"Unknown field {name!r}: only references ({', '.join(references) or 'none here'}) have "
                    f"parts, which are {', '.join(REF_KEYS)}."]})
            keys.setdefault(field, set()).add(key)
        for field in keys:
            if field in plain:  # the whole reference asked for too
                keys[field] = set(REF_KEYS)
        self._reference_keys = keys
        return plain | set(keys)

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
                "principal": self.principal, "nested": True}

    def get_serializer_context(self):
        context = self.get_base_context()
        context["fields"] = self.requested_fields()
        context["reference_keys"] = getattr(self, "_reference_keys", None)
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
        if (self.lookup_url_kwarg or self.lookup_field) not in self.kwargs:
            # a list URL (DRF's OPTIONS metadata asks for the object of a PUT, here a bulk update)
            raise Http404("A list has no single object.")
        if self.plain_queryset() and self.lookup_field == "pk" and runtime.enabled("precompiled_reads"):
            # the object as get_queryset() would read it, from a statement compiled once per shape
            self.check_detail_query_params()
            serializer_class, wanted = self.get_serializer_class(), self.requested_fields()
            shape = ("api", self.model, serializer_class, None if wanted is None else frozenset(wanted))
            try:
                obj = get_for(self.principal, self.model, self.kwargs["pk"], build=lambda: with_related(
                    self.model.objects.all(), serializer_class, wanted), shape=shape)
            except exceptions.NotFound:
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

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            # every matching row (no pages), the chosen fields as columns, streamed
            queryset = self.filter_queryset(self.get_queryset())
            return csv_export.stream(queryset, self.get_serializer_class(), self.get_serializer_context(),
                                     self.basename)
        return super().list(request, *args, **kwargs)

    # --- bulk: a list in the body of the list endpoint ------------------------------------
    def create(self, request, *args, **kwargs):
        if isinstance(request.data, list):
            return self.bulk_write(request, creating=True)
        return super().create(request, *args, **kwargs)

    @extend_schema(request={"application/json": BULK_ITEMS}, description=(
        "Replace many: a list of objects with their `id`; each is replaced as by PUT, all or nothing."))
    def bulk_update(self, request, *args, **kwargs):
        return self.bulk_write(request, partial=False)

    @extend_schema(request={"application/json": BULK_ITEMS}, description=(
        "Change many: a list of `{id, ...fields}`; each is changed as by PATCH, all or nothing."))
    def bulk_partial_update(self, request, *args, **kwargs):
        return self.bulk_write(request, partial=True)

    @extend_schema(request={"application/json": BULK_ITEMS}, responses={204: None}, description=(
        "Delete many: a list of `{id}` (or ids); all are deleted, or none."))
    def bulk_destroy(self, request, *args, **kwargs):
        objects = self.each_item(request, lambda index, item: self.bulk_target(item, Action.DELETE)[0])
        with transaction.atomic():
            for obj in objects:
                self.check_object(obj, Action.DELETE)
                delete_object(self.principal, obj)  # audited per object
        return Response(status=status.HTTP_204_NO_CONTENT)

    def bulk_items(self, request) -> list:
        self.check_detail_query_params()
        items = request.data
        if not isinstance(items, list) or not items or len(items) > BULK_MAX:
            raise exceptions.ValidationError({"non_field_errors": [
                f"Send a JSON list of 1 to {BULK_MAX} objects."]})
        return items

    def bulk_target(self, item, action: str):
        """The object an item of a bulk update/delete names, and the item without its id."""
        if isinstance(item, int) and not isinstance(item, bool):
            item = {"id": item}
        if not isinstance(item, dict) or "id" not in item:
            raise exceptions.ValidationError({"id": ["Each item needs the id of the object."]})
        try:
            obj = get_for(self.principal, self.model, item["id"], Action.VIEW)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"id": [
                f"No {self.model._meta.verbose_name} with id {item['id']!r} exists (or it is not visible to you)."]}) from None
        self.check_object(obj, action)
        return obj, {k: v for k, v in item.items() if k != "id"}

    def each_item(self, request, work) -> list:
        """``work(index, item)`` for every item of the body's list, each in its own savepoint,
        all in one transaction: any item's validation errors (under its index) undo them all.
        A refusal (403) stops at once, naming the item."""
        items, done, errors = self.bulk_items(request), [], {}
        with transaction.atomic():
            for index, item in enumerate(items):
                try:
                    with transaction.atomic():
                        done.append(work(index, item))
                except exceptions.ValidationError as exc:
                    errors[str(index)] = exc.detail
                except DjangoValidationError as exc:
                    errors[str(index)] = as_drf_validation_error(exc).detail
                except exceptions.APIException as exc:
                    exc.detail = f"Item {index}: {exc.detail}"
                    raise
            if errors:
                raise exceptions.ValidationError(errors)
        return done

    def bulk_write(self, request, *, creating=False, partial=False):
        def save(index, item):
            instance = None
            if not creating:
                instance, item = self.bulk_target(item, self.get_serializer_class().change_action)
            serializer = self.get_serializer(instance, data=item, partial=partial)
            serializer.is_valid(raise_exception=True)
            return serializer.save()  # the permission and model rules of one write, audited per object

        saved = self.each_item(request, save)
        data = self.get_serializer(saved, many=True).data
        return Response(data, status=status.HTTP_201_CREATED if creating else status.HTTP_200_OK)

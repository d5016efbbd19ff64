from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.api.serializers import SearchResultSerializer
from inventory.api.serializers.search import SearchQuerySerializer
from inventory.services.search import search
from inventory.tenancy import Principal


class SearchView(APIView):
    """Search devices, networks and datacenters of your tenants.

    Matches names, descriptions, tags, domains, make/model, OS and IP addresses: an address
    finds the device holding it and the networks containing it.
    """

    @extend_schema(parameters=[SearchQuerySerializer], responses=SearchResultSerializer)
    def get(self, request):
        unknown = sorted(set(request.query_params) - {"q", "limit", "format"})
        if unknown:
            raise exceptions.ValidationError({"detail": f"Unknown query parameter(s): {', '.join(unknown)}. Allowed: q, limit."})
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        principal = Principal.of(request)
        found = search(principal, query.validated_data["q"], query.validated_data["limit"],
                       columns=SearchResultSerializer.columns())
        context = {"request": request, "principal": principal, "nested": True}
        return Response(SearchResultSerializer(found, context=context).data)

"""API error answers: every refusal is a clear 4xx with a message, never a 500."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from inventory.api.parsers import PayloadTooLarge
from inventory.services.common import Conflict, as_drf_validation_error


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = as_drf_validation_error(exc)
    elif isinstance(exc, IntegrityError):
        exc = Conflict("The change conflicts with existing data (a concurrent change?); reload and retry.")
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(str(exc))
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == 400:  # validation and parse errors alike
        response.data = error_shape(response.data)
    return response


NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


def error_shape(data):
    """The one shape of a 400: ``{field: [messages], "non_field_errors": [messages]}``; a nested
    object's errors are such a mapping, a list's a mapping of the bad items' indexes (DRF's). A bare message or list of messages is a non-field error; so is ``detail``."""
    if not isinstance(data, dict):
        return {NON_FIELD: _messages(data)}
    shaped = {}
    for key, value in data.items():
        name = NON_FIELD if key == "detail" else key
        shaped.setdefault(name, [])
        value = _field_errors(value)
        if isinstance(value, list) and isinstance(shaped[name], list):
            shaped[name] = shaped[name] + value if shaped[name] else value
        else:
            shaped[name] = value
    return shaped


def _messages(value) -> list:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _field_errors(value):
    if isinstance(value, dict):
        return {k: _field_errors(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (dict, list, tuple)) for v in value):  # one entry per item of a list
            return [_field_errors(v) if isinstance(v, (dict, list, tuple)) else [str(v)] for v in value]
        return [str(v) for v in value]
    return [str(value)]

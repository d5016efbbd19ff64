"""API error answers: every refusal is a clear 4xx with a message, never a 500."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
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
    return drf_exception_handler(exc, context)

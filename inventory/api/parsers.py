"""A JSON parser that refuses what the database could not store, before any view runs."""

import io
import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError


class PayloadTooLarge(APIException):
    status_code = 413
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser plus: a size limit (413), and clear 400s for nesting too deep,
    NUL characters and lone surrogates (which PostgreSQL cannot store)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body larger than {limit} bytes.")
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nesting too deep.") from None
        try:
            text = json.dumps(data, ensure_ascii=False)
            text.encode("utf-8")
        except (UnicodeEncodeError, RecursionError, ValueError):
            raise ParseError("JSON parse error - invalid characters (lone surrogates) or nesting too deep.") from None
        if "\x00" in text:
            raise ParseError("JSON strings may not contain NUL (\\u0000) characters.")
        return data

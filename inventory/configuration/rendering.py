"""Sandboxed Jinja2 rendering of role templates and step commands.

``jinja2.sandbox.SandboxedEnvironment`` with ``StrictUndefined``, no loader (no ``include``,
``import`` or ``extends`` of files), autoescape off (the output is files and shell commands).
Limits, so a template can neither escape nor hang or flood the worker:
- sandbox: private and dunder attributes (``''.__class__``), unsafe methods refused;
- time: ``CONFIGURATION_RENDER_TIMEOUT`` seconds per render, checked on every executed template
  line (a trace function on the template's own frames) and on every ``range`` step;
- size: ``CONFIGURATION_RENDER_MAX_BYTES`` of output per render, ``*``/``%`` results and integer
  filter arguments capped the same way (no ``'a' * 10**9``).

``secret('name')`` in a template gives the secret's value when rendering for a run (inside the
worker only) and ``«secret:name»`` in a preview (role test, admin, MCP). ``shquote`` quotes a
value for the shell. Errors are :class:`RenderError` with the template label and line.
"""

from __future__ import annotations

import shlex
import sys
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import SandboxedEnvironment, safe_range


class RenderError(Exception):
    def __init__(self, kind: str, message: str, *, template: str = "", line: int | None = None):
        self.kind, self.message, self.template, self.line = kind, message, template, line
        where = f"{template}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}" if where else message)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "template": self.template, "line": self.line, "message": self.message}


class _Limit(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def max_bytes() -> int:
    return int(getattr(settings, "CONFIGURATION_RENDER_MAX_BYTES", 262144))


def timeout() -> float:
    return float(getattr(settings, "CONFIGURATION_RENDER_TIMEOUT", 2.0))


def mask(name: str) -> str:
    return f"«secret:{name}»"


class _Env(SandboxedEnvironment):
    intercepted_binops = frozenset(["*", "%", "**"])

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int) and right > 64:
            raise _Limit("size", "exponent too large")
        if operator == "*":
            for a, b in ((left, right), (right, left)):
                if isinstance(a, (str, list, tuple)) and isinstance(b, int) and len(a) * b > max_bytes():
                    raise _Limit("size", f"output would exceed the size cap of {max_bytes()} bytes")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str) and len(result) > max_bytes():
            raise _Limit("size", f"output would exceed the size cap of {max_bytes()} bytes")
        return result

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - jinja's signature
        _check_ints(args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str) and len(result) > max_bytes():
            raise _Limit("size", f"output would exceed the size cap of {max_bytes()} bytes")
        return result


def _check_ints(args, kwargs):
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > max_bytes():
            raise _Limit("size", f"argument {value} exceeds the size cap of {max_bytes()}")


def _capped_filter(fn):
    def capped(*args, **kwargs):
        _check_ints(args[1:], kwargs)
        return fn(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(capped, attr, getattr(fn, attr))
    return capped


_ENV = None


def env() -> _Env:
    global _ENV
    if _ENV is None:
        e = _Env(undefined=StrictUndefined, autoescape=False, loader=None, keep_trailing_newline=True,
                 extensions=[])
        e.filters = {name: _capped_filter(fn) for name, fn in e.filters.items()}
        e.filters["shquote"] = lambda value: shlex.quote(str(value))
        e.globals = {"range": _range, "dict": dict, "lipsum": None, "cycler": e.globals.get("cycler"),
                     "joiner": e.globals.get("joiner"), "namespace": e.globals.get("namespace")}
        e.globals = {k: v for k, v in e.globals.items() if v is not None}
        _ENV = e
    return _ENV


_state = threading.local()


def _range(*args):
    for i in safe_range(*args):
        deadline = getattr(_state, "deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise _Limit("timeout", f"rendering took longer than {timeout()} s")
        yield i


def _label_line(exc: BaseException, label: str) -> int | None:
    line = getattr(exc, "lineno", None)
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == label:
            found = tb.tb_lineno
        tb = tb.tb_next
    return found or line


def compile_template(source: str, label: str):
    """The compiled template, or RenderError("syntax") with its line."""
    try:
        e = env()
        code = e.compile(source, name=label, filename=label)
        return e.template_class.from_code(e, code, e.make_globals(None))
    except TemplateSyntaxError as exc:
        raise RenderError("syntax", exc.message or str(exc), template=label, line=exc.lineno) from None


def check_syntax(source: str, label: str) -> None:
    compile_template(source, label)


@dataclass
class Secrets:
    """What ``secret(name)`` answers: masked (preview) or the values (worker), noting what was used."""

    values: dict  # name -> value (run) or name -> None (preview: names that exist)
    reveal: bool = False

    def __post_init__(self):
        self.used: set[str] = set()

    def __call__(self, name):
        name = str(name)
        if name not in self.values:
            raise UndefinedError(f"secret {name!r} is not defined for this device")
        self.used.add(name)
        return self.values[name] if self.reveal else mask(name)


def render(source: str, data: dict, label: str, secrets: Secrets | None = None) -> str:
    """Render with the caps; RenderError(kind in syntax|undefined|sandbox|size|timeout|error)."""
    template = compile_template(source, label)
    lookup = secrets or Secrets({})
    context = {**data, "secret": lambda name: lookup(name)}  # a plain function: nothing else to reach
    limit, cap = timeout(), max_bytes()
    start = time.monotonic()
    deadline = start + limit
    previous_trace, previous_deadline = sys.gettrace(), getattr(_state, "deadline", None)

    def line_tracer(frame, event, arg):
        if event == "line" and time.monotonic() > deadline:
            raise _Limit("timeout", f"rendering took longer than {limit} s")
        return line_tracer

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == label:
            return line_tracer
        return None

    out, size = [], 0
    _state.deadline = deadline
    sys.settrace(tracer)
    try:
        for chunk in template.generate(context):
            size += len(chunk.encode())
            if size > cap:
                raise _Limit("size", f"output exceeds the size cap of {cap} bytes")
            out.append(chunk)
    except _Limit as exc:
        raise RenderError(exc.kind, str(exc), template=label, line=_label_line(exc, label)) from None
    except UndefinedError as exc:
        raise RenderError("undefined", exc.message or str(exc), template=label, line=_label_line(exc, label)) from None
    except SecurityError as exc:
        raise RenderError("sandbox", str(exc), template=label, line=_label_line(exc, label)) from None
    except TemplateError as exc:
        raise RenderError("error", str(exc), template=label, line=_label_line(exc, label)) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
        raise RenderError("error", f"{type(exc).__name__}: {exc}", template=label,
                          line=_label_line(exc, label)) from None
    finally:
        sys.settrace(previous_trace)
        _state.deadline = previous_deadline
    return "".join(out)

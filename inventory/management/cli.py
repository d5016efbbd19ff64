"""What the project's management commands share: a progress bar with the time taken, and
``--help`` that ends with examples."""

from __future__ import annotations

import argparse
import time

from django.core.management.base import DjangoHelpFormatter


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's help layout; the examples below it keep their lines."""


class WithExamples:
    """BaseCommand mixin: ``examples`` (argument strings) are listed at the end of ``--help``."""

    examples: tuple[str, ...] = ()

    def create_parser(self, prog_name, subcommand, **kwargs):
        if self.examples:
            lines = [f"  {prog_name} {subcommand} {example}".rstrip() for example in self.examples]
            kwargs.setdefault("epilog", "examples:\n" + "\n".join(lines))
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = HelpFormatter
        return parser


class Progress:
    """A progress bar on a terminal (``label [#####.....]  50% note``, redrawn in place), or a
    line at each quarter when the output is not a terminal (logs, CI); ``finish()`` prints the
    time taken."""

    WIDTH = 30

    def __init__(self, out, label: str, total: int, *, tty: bool | None = None):
        self.out, self.label, self.total, self.done = out, label, max(0, total), 0
        self.tty = out.isatty() if tty is None else tty
        self.started = time.monotonic()
        self.quarter = 0

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done = min(self.total, self.done + n)
        percent = 100 * self.done // self.total if self.total else 100
        if self.tty:
            filled = self.WIDTH * percent // 100
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.out.write(f"\r{self.label} [{bar}] {percent:3d}% {note}".ljust(79), ending="")
            self.out.flush()
        elif percent // 25 > self.quarter:
            self.quarter = percent // 25
            self.out.write(f"{self.label}: {percent}% {note}".rstrip())

    def at(self, done: int, note: str = "") -> None:
        self.advance(done - self.done, note)

    def finish(self, summary: str = "") -> float:
        elapsed = time.monotonic() - self.started
        if self.tty:
            self.out.write("\r" + " " * 79 + "\r", ending="")
        self.out.write(f"{self.label}: {summary} ({elapsed:.1f} s)" if summary else f"{self.label}: done ({elapsed:.1f} s)")
        return elapsed

"""A small progress display for long CLI work (sync): per-model counts and rates on stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import TextIO


class Progress:
    """Redraws one status line on a terminal; prints a line every few seconds otherwise (CI logs)."""

    def __init__(self, stream: TextIO | None = None, every: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.counts: dict[str, int] = {}
        self.started = time.monotonic()
        self._last = 0.0
        self._tty = self.stream.isatty()

    def __call__(self, model: str, count: int) -> None:
        self.counts[model] = self.counts.get(model, 0) + count
        now = time.monotonic()
        if self._tty or now - self._last >= self.every:
            self._last = now
            self._draw(final=False)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        total = sum(self.counts.values())
        parts = ", ".join(f"{model} {n:,}" for model, n in sorted(self.counts.items()))
        return f"synced {total:,} records ({total / elapsed:,.0f}/s) in {elapsed:.1f}s: {parts or '-'}"

    def _draw(self, *, final: bool) -> None:
        if self._tty:
            self.stream.write("\r\x1b[2K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self._draw(final=True)


@contextlib.contextmanager
def holding_back(logger: str) -> Iterator[None]:
    """``logger``'s lines below WARNING are not written meanwhile: a command whose progress display
    owns the terminal (``sync``, ``demo``) would have them cut its status line in the middle, and the
    display already says in counts what they say per job."""
    held = logging.getLogger(logger)
    level = held.level
    held.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        held.setLevel(level)

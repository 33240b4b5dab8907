"""The gem's recorded requests (``shared/fixtures/ticket_sharing``), loaded for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.shared import FIXTURES

ROOT = FIXTURES / "ticket_sharing"
FOLDERS = sorted(p for p in ROOT.iterdir() if p.is_dir())


@dataclass(frozen=True)
class Capture:
    folder: str
    name: str
    method: str
    target: str
    headers: list[tuple[str, str]]
    raw: bytes  # the exact body bytes (from the .http file)
    body_json: Any

    @property
    def protocol_path(self) -> str:
        """The path after the base URL the gem was given (``.../sharing``): ``/agreements/<uuid>``."""
        return self.target.split("/sharing", 1)[1]

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.name}"


def _load(path: Path) -> Capture:
    meta = json.loads(path.read_text())
    raw = path.with_suffix(".http").read_bytes().split(b"\r\n\r\n", 1)[1]
    return Capture(
        folder=path.parent.name,
        name=path.stem,
        method=meta["method"],
        target=meta["target"],
        headers=[(k, v) for k, v in meta["headers"]],
        raw=raw,
        body_json=meta["body_json"],
    )


CAPTURES = [_load(p) for folder in FOLDERS for p in sorted(folder.glob("*.json")) if p.name[0].isdigit()]


def by_label(label: str, folder: str | None = None) -> list[Capture]:
    return [c for c in CAPTURES if label in c.name and (folder is None or c.folder == folder)]


def gem_results(folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((folder / "gem_call_results.json").read_text())
    return result

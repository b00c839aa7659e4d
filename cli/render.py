"""Output: human tables by default, JSON with `--json`; and the time arguments every command reads."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from .errors import UsageError

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_CELL = 70


@dataclass
class Printer:
    as_json: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def json(self, data: Any) -> None:
        self.out.write(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
        self.line(format_table(rows, columns))


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    pairs = list(pairs)
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {_cell(v, limit=200)}" for k, v in pairs)


def progress_bar(done: int, total: int, width: int = 30) -> str:
    if total <= 0:
        return "[" + " " * width + "]   ?%"
    filled = min(width, round(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + f"] {100 * done / total:5.1f}%"


def parse_time(text: str, now: datetime | None = None, *, flag: str = "time") -> datetime:
    """An ISO 8601 moment (`2026-12-01T10:00:00Z`, a date, a zone-less time = UTC) or an age ago (`30m`,
    `6h`, `2d`)."""
    now = now or datetime.now(UTC)
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is neither an ISO 8601 time (2026-12-01T10:00:00Z) nor an age (30m, 6h, 2d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _cell(value: Any, limit: int = MAX_CELL) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, datetime):
        text = iso(value) or "-"
    elif isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value) or "-"
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "value"):  # DynamoDB Binary
        return repr(value)
    return str(value)

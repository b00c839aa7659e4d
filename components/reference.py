"""Reference tables generated from the models: the README's stack keys and each function's environment.

`python -m components.reference` prints the stack table, `... <function>` one env table; `--write`
rewrites the README's table and the env tables of docs/<function>.md (between `<!-- env-table:<function>
begin/end -->`); tests keep both in sync with the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union

from pydantic import BaseModel

from handlers.common.settings_model import EnvSettings, env_table
from handlers.common.shared_settings import PowertoolsSettings

from .config import StackConfig
from .sections import NAMESPACE, IndexerEnv, InventoryEnv, QualifierEnv

FUNCTION_SETTINGS: dict[str, type[EnvSettings]] = {
    "inventory_created": InventoryEnv,
    "batch_qualifier": QualifierEnv,
    "throttled_indexer": IndexerEnv,
}


ENV_TABLE_PAGES = {
    "inventory_created": "inventory-created.md",
    "batch_qualifier": "batch-qualifier.md",
    "throttled_indexer": "throttled-indexer.md",
}
REPO = Path(__file__).resolve().parent.parent
CONFIG_SECTION_END = "<!-- /section: configuration -->"


def function_env_table(function: str) -> str:
    """The environment variables of one function, from its settings model (docs/<function>.md): its own,
    then the Powertools ones every component writes."""
    return env_table(FUNCTION_SETTINGS[function], PowertoolsSettings)


def env_table_block(text: str, function: str) -> tuple[int, int]:
    """Where the function's env table sits in a page (between its markers)."""
    begin, end = f"<!-- env-table:{function} begin -->", f"<!-- env-table:{function} end -->"
    return text.index(begin) + len(begin), text.index(end)


def write_docs(repo: Path = REPO) -> None:
    """Rewrite the generated tables: README's configuration reference and each function page's env table."""
    readme = repo / "README.md"
    text = readme.read_text()
    start = text.index("| key | type | default | meaning |", text.index("<!-- section: configuration -->"))
    end = text.index(CONFIG_SECTION_END, start)
    readme.write_text(text[:start] + reference_table() + "\n" + text[end:])
    for function, page in ENV_TABLE_PAGES.items():
        path = repo / "docs" / page
        text = path.read_text()
        start, end = env_table_block(text, function)
        path.write_text(text[:start] + "\n" + function_env_table(function) + "\n" + text[end:])


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{info.alias or name}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append((key, "object", "", (info.description or "").strip()))
            rows.extend(_rows(annotation, f"{key}."))
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, tuple):
            default = list(default)
        constraints = [f">= {m.ge}" for m in info.metadata if hasattr(m, "ge")]
        constraints += [f"<= {m.le}" for m in info.metadata if hasattr(m, "le")]
        kind = _short_type(annotation) + (f" ({', '.join(constraints)})" if constraints else "")
        rows.append((key, kind, json.dumps(default), " ".join((info.description or "").split())))
    return rows


def _short_type(annotation: Any) -> str:
    origin = getattr(annotation, "__origin__", None)
    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    if origin is Literal:
        return " / ".join(f"`{a}`" for a in args)
    if annotation in (int, str, bool):
        return annotation.__name__
    if origin is tuple:
        return f"list of {_short_type(args[0])}"
    if origin is dict:
        return "object"
    if args and (origin is Union or isinstance(annotation, UnionType)):
        inner = " or ".join(_short_type(a) for a in args if a is not type(None))
        return inner + (" or null" if type(None) in args else "")
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return _short_type(annotation.__origin__)
    return getattr(annotation, "__name__", str(annotation))


def reference_table() -> str:
    """The README's configuration reference, generated from this model (a test keeps the README in sync)."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, meaning in _rows(StackConfig, f"{NAMESPACE}:"):
        lines.append(
            f"| `{key}` | {kind} | {f'`{default}`' if default else ''} | {meaning.replace('|', '/')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_docs()
    else:
        print(function_env_table(sys.argv[1]) if sys.argv[1:] else reference_table())

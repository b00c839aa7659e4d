"""Makes the Lambda handler package importable as `handlers`: components read the functions' settings.

Handler code imports itself as the top-level `handlers` package (the way Lambda runs it). In a checkout that
package is on the path already; when this repository is installed as `bulk_loader`, handlers/ sits next to
components/ and its parent directory is appended to the path (appended: it never shadows anything).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HANDLERS_DIR = Path(__file__).resolve().parent.parent / "handlers"


def ensure_handlers_importable() -> None:
    spec = importlib.util.find_spec("handlers")
    if spec is None:
        sys.path.append(str(HANDLERS_DIR.parent))
        return
    found = [Path(p).resolve() for p in (spec.submodule_search_locations or [])]
    if HANDLERS_DIR not in found:
        raise ImportError(f"another 'handlers' package ({found}) shadows this project's {HANDLERS_DIR}")


ensure_handlers_importable()

"""tests/policy: the repo root (for `components`), tests/infra (for `infra_harness`), policy/ (for the rules)
and this folder (for `recorded`) on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[1]
for _path in (_REPO, _REPO / "tests" / "infra", _REPO / "policy", _HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

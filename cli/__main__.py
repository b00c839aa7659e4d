"""`python -m cli` from the repo root (installed: the `bulk-loader` console script)."""

from __future__ import annotations

from .main import main

raise SystemExit(main())

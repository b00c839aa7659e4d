"""`bulk-loader`: the operator's command for a deployed stack (or the offline runtime).

Subcommands: `import-now`, `status`, `history`, `redrive`, `reindex` (README "Operating", docs/operating.md).
Installed as `bulk_loader.cli` (console script `bulk-loader`); from the repo root `python -m cli`.
"""

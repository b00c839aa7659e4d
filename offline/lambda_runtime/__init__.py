"""Lambda functions as local worker processes, each with its own environment and its own role's credentials:
the worker program (worker), one process per concurrent invocation (process), the per-function pools
(pool)."""

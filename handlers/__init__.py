"""Lambda function code. One package per function plus `common/` (contracts, AWS clients, history access).

Inside a Lambda archive the package sits at the archive root, so handler paths are
`handlers.<function>.app.handler`.
"""

"""The offline runtime: the whole stack on this machine, no AWS account (ARCHITECTURE section 5).

`OfflineRuntime` (offline/runtime.py) is the entry point; the modules beside it are its parts.
"""

"""The demo (`python -m offline.demo`): deploy a stack offline, import generated sample data, check the
result."""

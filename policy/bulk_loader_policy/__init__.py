"""The bulk-loader policy pack's rules as plain functions over resource type + properties, so the same code
runs in CrossGuard (policy/__main__.py) and in the unit tests (tests/policy/)."""

from .catalog import RULES
from .model import UNKNOWN, Resource, Rule, Stack, Violation

__all__ = ["RULES", "UNKNOWN", "Resource", "Rule", "Stack", "Violation"]

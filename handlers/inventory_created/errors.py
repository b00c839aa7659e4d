"""Errors for bad input: each message names the file, field or setting that was wrong."""

from __future__ import annotations


class InventoryError(ValueError):
    """An inventory (event, manifest, data file or setting) that cannot be imported as it is."""


class EventError(InventoryError):
    """The invocation event is not one this function accepts."""


class ManifestError(InventoryError):
    """The inventory manifest (manifest.json / manifest.checksum) is missing, malformed or corrupt."""


class DataFileError(InventoryError):
    """An inventory data file is corrupt (checksum, gzip, CSV/Parquet/ORC structure) or lacks a column."""


class SettingsError(InventoryError):
    """An environment variable holds a value this function cannot use."""

"""Registration providers shipped with the qualifier; others are loaded from an import path."""

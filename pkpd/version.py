"""The package version (one place; read by the CLI, provenance attributes and the report)."""
__version__ = "0.1.0"

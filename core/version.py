"""The package version, one place for every component and the CLI."""

__version__ = "0.1.0"

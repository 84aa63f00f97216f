"""agentotel: OpenTelemetry-native monitoring for AI agents."""

from agentotel.core.version import __version__

__all__ = ["__version__"]

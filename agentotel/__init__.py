"""agentotel: OpenTelemetry-native monitoring for AI agents."""

__version__ = "0.1.0"

"""The OTLP receiver: gRPC and HTTP transports in front of one durable export path."""

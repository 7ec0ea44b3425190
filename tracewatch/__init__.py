"""tracewatch: OpenTelemetry traces of Kubernetes object lifecycles, reconstructed from watches."""

__version__ = "0.1.0"

"""Operating the daemon: logging, health and metrics endpoints."""

"""Logs (JSON lines, redacted on the way out) and Prometheus metrics."""

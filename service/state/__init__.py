"""Shared state: caches and rate-limit counters, in memory or in Redis."""

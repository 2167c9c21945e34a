"""The service's Prometheus metrics, in a registry of their own (one per app)."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app).

    Labels are low-cardinality only: route templates, Spot aliases, flows, kinds; never
    a user, a client IP or a URL.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tokens_issued = self._counter(
            "spot_sso_tokens_issued", "Tokens issued, by Spot alias and flow.", "spot", "flow"
        )
        self.request_duration = self._histogram(
            "spot_sso_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status.",
            "route",
            "method",
            "status",
        )
        self.authorize_outcomes = self._counter(
            "spot_sso_authorize_outcomes",
            "GET /authorize outcomes: redirected, login_bounce, or the problem that refused it.",
            "outcome",
        )
        self.identity_duration = self._histogram(
            "spot_sso_identity_request_duration_seconds",
            "Time the identity adapter took, by operation (session, lookup).",
            "operation",
        )
        self.identity_errors = self._counter(
            "spot_sso_identity_errors",
            "Identity adapter failures, by operation and kind (the problem type).",
            "operation",
            "kind",
        )
        self.identity_mismatches = self._counter(
            "spot_sso_identity_mismatches",
            "User lookups the host answered with another user's profile (refused).",
        )
        self.forwarded_values_refused = self._counter(
            "spot_sso_forwarded_values_refused",
            "Browser sessions treated as absent: a forwarded cookie or header held more "
            "than plain characters (kind: cookie, header).",
            "kind",
        )
        self.rate_limited = self._counter(
            "spot_sso_rate_limited", "Requests refused by a rate limit, by limit.", "limit"
        )
        self.redis_errors = self._counter(
            "spot_sso_redis_errors",
            "Redis failures that degraded a component (ratelimit, cache, readyz).",
            "component",
        )

        self.ledger_errors = self._counter(
            "spot_sso_ledger_errors",
            "Member ledger failures, by operation (read, write, purge, migrate); sign-ins "
            "went on without it.",
            "operation",
        )
        self.email_changes = self._counter(
            "spot_sso_member_email_changes",
            "Known members whose email changed on the host (once per change; every refused "
            "attempt), by Spot alias and what was done (email_change).",
            "spot",
            "mode",
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(self, name: str, documentation: str, *labels: str) -> Histogram:
        return Histogram(name, documentation, labels, buckets=_BUCKETS, registry=self.registry)

"""The Runtime: everything a request needs, built once from the settings; API clients;
``explain``. The one place that issues a token."""

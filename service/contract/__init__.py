"""MeltingSpot's contract: claims, signing, redirects and a Spot's rules.

Pure and framework-free (pydantic, python-jose, email-validator, idna): no web
framework, no HTTP client, no settings loading. Everything else builds on it.
"""

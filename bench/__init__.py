"""``make bench``: throughput, latency and memory of spot-sso against a bare FastAPI app.

Run ``.venv/bin/python bench/run.py`` (``--quick`` for a smoke pass). See bench/README.md.
"""

"""The web layer: the FastAPI app factory, middleware, problems and pages, the routes."""

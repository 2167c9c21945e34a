"""HTTP routes: the JSON API, the browser flow and the ops endpoints."""

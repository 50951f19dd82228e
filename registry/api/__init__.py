"""The JSON API at /api/v1 (views, OpenAPI description, token rate limit)."""

"""The REST API (FastAPI): `/v1`, OpenAPI 3.1 at `/openapi.json`, docs at `/docs`."""

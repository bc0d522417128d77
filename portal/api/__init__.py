"""The integrations API (``/api/v1``): service tokens, the OpenAPI document and the endpoints that
collectors, the AI-training pipeline and service desks call (docs/architecture.md, "Integrations API")."""

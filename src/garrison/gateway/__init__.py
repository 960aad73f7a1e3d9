"""HTTP adapters of the inference gateway: the ASGI app, auth, limits in Redis, OIDC,
metrics, tracing, webhooks, and the server assembly (``build_gateway``)."""

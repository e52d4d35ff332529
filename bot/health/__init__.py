"""Health and metrics of a running secbot: /healthz, /readyz and /metrics on their own port."""

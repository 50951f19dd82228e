"""What operators watch: liveness, readiness, Prometheus metrics, and structured request logs."""

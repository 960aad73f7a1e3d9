"""The model registry: lifecycle, artifact security, four-eyes approval and rollback."""

"""sluice services: one Celery worker package per toolkit controller."""

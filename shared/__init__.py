"""What every sluice process uses: API types, store, events, Celery app, settings, sandbox, CLI."""

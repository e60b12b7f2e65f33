"""Flux-compatible API objects: kinds, models, validation, conditions."""

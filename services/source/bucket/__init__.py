"""Bucket: S3-compatible buckets through the generic provider."""

"""The sluice command line."""

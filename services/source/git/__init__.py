"""GitRepository: the Git mirror, ref resolution and revisions."""

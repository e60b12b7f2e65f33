"""ArtifactGenerator: ExternalArtifacts copied out of other sources (Flux 2.7's source-watcher)."""

"""throttled_indexer: registers queued images with the face index, at a bounded rate."""

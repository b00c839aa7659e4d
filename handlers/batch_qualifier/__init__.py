"""The batch qualifier: S3 Batch Operations invokes it once per manifest row (ARCHITECTURE section 4)."""

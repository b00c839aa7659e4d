"""The face indexes the indexer registers into, offline: emulated Amazon Rekognition collections
(rekognition), a local HTTP registration API (registration_api), their shared rate limits and faults
(limits) and the deterministic face detector both use (faces)."""

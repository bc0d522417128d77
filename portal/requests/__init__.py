"""Data-subject requests (docs/architecture.md, "Requests"): access, portability, erasure,
rectification, restriction, objection."""

"""The audit trail: append-only, structured entries, each with its RFC 9162 leaf hash."""

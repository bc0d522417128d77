"""Consent per purpose: an append-only ledger, and the suppression list the AI-training side reads."""

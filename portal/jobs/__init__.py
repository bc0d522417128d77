"""Jobs: long work (exports, erasure, evidence packs) run outside the request
(docs/architecture.md, "Jobs").

The ``jobs`` table is the truth; runners (``portal.jobs.runners``) only move work along.
"""

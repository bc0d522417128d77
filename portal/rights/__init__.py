"""Data-subject requests (DESIGN §4): access, portability, erasure, rectification, restriction, objection."""

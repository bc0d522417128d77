"""The training-set ledger: where monitoring data went for AI training, and what became of it."""

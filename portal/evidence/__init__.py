"""Evidence for regulators: signed evidence packs for one request, the offline verifier, sharing a
pack with a regulator, the CPRA §7102 metrics report and the GDPR Art. 30 record of processing."""

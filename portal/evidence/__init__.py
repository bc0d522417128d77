"""Evidence for regulators: signed evidence packs for one request, the offline verifier, sharing a
pack with a regulator (the metrics report and the record of processing are ``portal.reports``)."""

"""The monitoring data: the category register, activity events and screenshots (sealed under the
subject's key), their aggregates, ingestion, and the record of who accessed them. Where the data
went for AI training is the training-set ledger's (:mod:`portal.training`); the employee's pages
read it from there."""

"""Jobs: work that runs outside the web request (docs/architecture.md, "Jobs"): the employee's
export, erasure (and erasing what a lifted legal hold kept back), retention, e-mails, former
employees' code mails and deliveries to recipient systems, each a kind registered with
:func:`portal.jobs.services.handler`. Evidence packs are not jobs: the DPO's click writes one in
the web request (:func:`portal.evidence.sharing.make_pack`).

The ``jobs`` table is the truth; runners (``portal.jobs.runners``) only move work along.
"""

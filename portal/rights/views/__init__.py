"""The pages of data-subject requests, one module per audience: ``employee`` (filing and following
one's own requests, ``/me/requests``) and ``staff`` (the DPO's queue, cases and legal holds,
``/dpo``), each with its forms."""

"""Staff administration, all of it under ``/admin``: the monitoring policy (``views.py``, which
holds the ``admin`` blueprint), service tokens (``api_tokens.py``), recipient systems
(``recipients.py``), queues and routing rules (``queues.py``) and the job list (``jobs.py``)."""

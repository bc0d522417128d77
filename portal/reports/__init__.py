"""Reports for the DPO and regulators (``/dpo/reports``, ``flask --app wsgi evidence metrics|ropa``):
the CPRA §7102 metrics report (``metrics.py``) and the GDPR Art. 30 record of processing
(``ropa.py``), as CSV and PDF (``pdf.py``)."""

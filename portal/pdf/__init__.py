"""The PDF toolkit every document of the portal is made with.

The export report (:mod:`portal.exports.report`), the deletion certificate
(:mod:`portal.rights.certificate`), the evidence pack's request.pdf
(:mod:`portal.evidence.pack_pdf`) and the DPO's reports (:mod:`portal.reports.pdf`) each
hold only their own document's layout; what they share is here:

- :mod:`.fonts`: DejaVu Sans when the system has it, else Helvetica, and what each can draw;
- :mod:`.text`: the language a document is written in, text reduced to what the font can draw,
  shortening, and the house formats of sizes, dates and times;
- :mod:`.page`: the house colours, A4 with its margins, the "page N of M" footer, and rendering a
  story to PDF bytes;
- :mod:`.layout`: the flowables: :class:`~.layout.Writer` (the report style: titled sections,
  zebra tables, label/value facts) and :class:`~.layout.Text` with :func:`~.layout.grid_table`
  (the certificate style).
"""

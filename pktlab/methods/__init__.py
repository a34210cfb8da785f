"""Methods beyond fixed rates and NDR/PDR searches (pktlab.search), each one module:

  soak.py          one long trial at a fixed rate, counters per interval streamed to disk
  back_to_back.py  RFC 2544 back-to-back: the longest burst taken without loss

measure.run_method picks one by the scenario's method.kind; each returns the record
the result keeps (pktlab.results: SoakRecord, BackToBackRecord).
"""

"""The MongoDB archive: a durable consumer of ANALYTICS writing ticks, summaries and
downsampled enriched chains to MongoDB (``deltastream archive``), and the history pages the
edges read back from it.

``writer.py`` (consumer loop, acks, back-off) → ``documents.py`` (message → document) →
``store.py`` (indexes, TTLs, idempotent writes, history pages); ``invalidation.py`` (Redis
cache generations), ``metrics.py`` (Prometheus), ``pages.py`` (history range and page types).
"""

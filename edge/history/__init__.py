"""History of analytics subjects for the REST routes: from the MongoDB archive when it is
configured and reachable (through the Redis page cache when that is configured), else from
the ANALYTICS stream, with the same pages either way.

``params.py`` (``from``/``to``/``from_seq``/``to_seq``/``limit``/``cursor`` → a range; 400 on
a bad one), ``stream.py`` (ANALYTICS reads), ``cache.py`` (Redis cache-aside), ``service.py``
(which source answers).
"""

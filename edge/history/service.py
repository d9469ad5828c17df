"""Which source answers a history page: the archive (cache first), else the stream.

With ``DELTASTREAM_MONGO_URL`` set, pages come from MongoDB, through the Redis page cache when
``DELTASTREAM_REDIS_URL`` is set too. When MongoDB cannot be reached the page comes from the
ANALYTICS stream instead (``source: "stream"`` in the answer; the stream holds only recent
history), the ``mongo`` dependency turns degraded on ``/health``, and its probe brings the
archive back once MongoDB answers again. Without MongoDB every page comes from the stream.
Both sources answer the same pages (``actors.archive.pages``), cursors included.
"""

from __future__ import annotations

from typing import Literal

from actors.archive.documents import collection_for
from actors.archive.pages import HistoryPage, HistoryRange
from actors.archive.store import ArchiveStore, ArchiveUnavailable
from edge.dependency import Dependency
from edge.history.cache import HistoryCache
from edge.history.stream import AnalyticsHistory
from edge.metrics import EdgeMetrics

__all__ = ["HistoryService", "Source"]

Source = Literal["archive", "stream"]


class HistoryService:
    def __init__(
        self,
        stream: AnalyticsHistory,
        *,
        metrics: EdgeMetrics,
        archive: ArchiveStore | None = None,
        mongo: Dependency | None = None,
        cache: HistoryCache | None = None,
    ) -> None:
        self.stream = stream
        self.metrics = metrics
        self.archive = archive
        self.mongo = mongo
        self.cache = cache

    async def page(self, r: HistoryRange) -> tuple[HistoryPage, Source]:
        collection = collection_for(r.subject)
        if self.archive is not None and self.mongo is not None and collection is not None:
            page, generation = (None, None) if self.cache is None else await self.cache.get(r)
            if page is not None:
                return self._counted(page, "archive")
            if self.mongo.usable():
                try:
                    page = await self.archive.page(collection, r)
                except ArchiveUnavailable as exc:
                    self.mongo.failed(exc)
                else:
                    if self.cache is not None and generation is not None:
                        await self.cache.put(r, generation, page)
                    return self._counted(page, "archive")
        return self._counted(await self.stream.page(r), "stream")

    def _counted(self, page: HistoryPage, source: Source) -> tuple[HistoryPage, Source]:
        self.metrics.history_pages.labels(source).inc()
        return page, source

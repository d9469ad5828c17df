"""Feeds: a seeded synthetic market, a recorder of FEED and a replayer of recordings."""

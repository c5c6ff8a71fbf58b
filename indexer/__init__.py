"""Indexer service: crawl workers, message handlers and crawlers per target engine."""

"""The HTTP gateway: registration, crawl status, schema browsing and search."""

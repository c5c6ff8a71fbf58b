"""Core of the data catalog indexer: settings, domain models, ports and adapters."""

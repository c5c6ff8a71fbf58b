"""One crawler per target engine; each yields domain models, never driver rows."""

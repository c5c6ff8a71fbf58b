"""Adapters that implement the catalog's ports on concrete engines."""

"""The package version, stored with every run (a store records which tdsim wrote it)."""
__version__ = "0.1.0"

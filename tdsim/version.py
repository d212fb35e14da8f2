"""The package version, stored with every run (a store records which tdsim wrote it)."""
__version__ = "0.2.0"   # 0.2: checkpoints carry the sources at the segment start (ramps)

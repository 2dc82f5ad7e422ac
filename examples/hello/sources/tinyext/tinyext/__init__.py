"""A C extension for pyfod's bundled example."""
from tinyext._tiny import square

__all__ = ["square"]

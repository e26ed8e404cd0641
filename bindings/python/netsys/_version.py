"""The package version; it follows the C library's MAJOR.MINOR.PATCH."""

__version__ = "1.0.0"

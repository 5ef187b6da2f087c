"""makini: command-line administration for Makini, with a bundled local sandbox."""

__version__ = "0.1.0"

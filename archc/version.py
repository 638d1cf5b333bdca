"""The version of archc, in a module of its own so that any part can read it without cycles."""

__version__ = "0.1.0"

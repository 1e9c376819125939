"""assistant: a local, offline push-to-talk voice assistant daemon for the Linux desktop."""

__version__ = "0.1.0"

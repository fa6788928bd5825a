"""sightline: a GB/T 28181 video-surveillance exchange platform."""

__version__ = "0.1.0"

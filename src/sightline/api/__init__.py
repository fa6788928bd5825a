"""sightline.api."""

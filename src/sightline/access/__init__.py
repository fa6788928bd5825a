"""sightline.access."""

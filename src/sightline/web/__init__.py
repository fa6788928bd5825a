"""sightline.web."""

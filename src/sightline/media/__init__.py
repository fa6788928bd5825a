"""sightline.media."""

"""sightline.store."""

"""sightline.health."""

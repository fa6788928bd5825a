"""sightline.sim."""

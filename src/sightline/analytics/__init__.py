"""sightline.analytics."""

"""sightline.cli."""

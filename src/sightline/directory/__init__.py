"""sightline.directory."""

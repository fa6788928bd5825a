"""sightline.gb28181."""

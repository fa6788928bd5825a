"""sightline.sip."""

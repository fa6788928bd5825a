"""Non-identifying analytics on video: static privacy masks (``masking``, ``masks``,
``masked_video``, ``masked_stream``)."""

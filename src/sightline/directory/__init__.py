"""The directory: devices, channels, administrative regions, business groups, positions."""

from sightline.directory.service import DirectoryService, Page
from sightline.directory.trees import GroupView, RegionForest, RegionView

__all__ = ["DirectoryService", "GroupView", "Page", "RegionForest", "RegionView"]

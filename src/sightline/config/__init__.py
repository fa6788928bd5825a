"""sightline's settings: one documented tree, from a YAML file and ``SIGHTLINE_*`` variables.

Precedence (highest first): init arguments, environment variables
(``SIGHTLINE_<SECTION>__<KEY>``, e.g. ``SIGHTLINE_SIP__PORT=15060``), the YAML file, defaults.
Every key is optional.  Unknown keys are errors, so a typo is reported at start instead of being
silently ignored.
"""

from sightline.config.access import AccessSettings, AdminSettings, AuditSettings
from sightline.config.media import MediaSettings, PlaybackSettings, RecordingSettings
from sightline.config.root import Settings, load_settings
from sightline.config.server import DatabaseSettings, HttpSettings, LogSettings, WebSettings
from sightline.config.sip import Gb28181Settings, SipSettings

__all__ = [
    "AccessSettings",
    "AdminSettings",
    "AuditSettings",
    "DatabaseSettings",
    "Gb28181Settings",
    "HttpSettings",
    "LogSettings",
    "MediaSettings",
    "PlaybackSettings",
    "RecordingSettings",
    "Settings",
    "SipSettings",
    "WebSettings",
    "load_settings",
]

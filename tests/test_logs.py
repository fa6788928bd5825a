"""JSON log lines carry the context passed with extra=."""

from __future__ import annotations

import json
import logging

from sightline.logs import JsonFormatter


def test_json_formatter_carries_context() -> None:
    record = logging.LogRecord("sightline.sip", logging.INFO, "f.py", 1, "got %s", ("x",), None)
    record.device = "34020000001320000001"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "got x"
    assert line["level"] == "INFO"
    assert line["device"] == "34020000001320000001"
    assert line["logger"] == "sightline.sip"

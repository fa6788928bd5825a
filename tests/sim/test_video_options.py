"""``sightline sim`` video options become the fleet's VideoSettings."""

from __future__ import annotations

import argparse

import pytest

from sightline.cli.sim import add_parser, config_from_args
from sightline.errors import ConfigError
from sightline.sim.video import VideoCodec, VideoSettings

BASE = ["sim", "--server", "127.0.0.1:5060", "--server-id", "34020000002000000001"]


def _config_video(argv: list[str]) -> VideoSettings:
    parser = argparse.ArgumentParser(prog="sightline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return config_from_args(parser.parse_args([*BASE, *argv])).video


def test_defaults_are_h264_640x360_at_25_fps() -> None:
    assert _config_video([]) == VideoSettings()
    assert VideoSettings() == VideoSettings(VideoCodec.H264, 640, 360, 25, 1024, 2.0)


def test_options_set_codec_size_rate_and_bitrate() -> None:
    argv = ["--codec", "h265", "--video-size", "1280x720", "--fps", "15", "--bitrate", "2048"]
    assert _config_video(argv) == VideoSettings(VideoCodec.H265, 1280, 720, 15, 2048)


@pytest.mark.parametrize(
    "argv",
    [["--video-size", "640"], ["--video-size", "64x36"], ["--fps", "0"], ["--bitrate", "1"]],
)
def test_bad_video_options_are_config_errors(argv: list[str]) -> None:
    with pytest.raises(ConfigError):
        _config_video(argv)

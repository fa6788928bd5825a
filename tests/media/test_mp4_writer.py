"""Mp4Writer: access units from a real x264 encoder (the simulator's) remuxed into MP4."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from sightline.media.mp4_writer import Mp4Writer, Mp4WriterError
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.sim.ptz_state import PtzPosition
from sightline.sim.video import TestPattern, VideoCodec, VideoSettings, read_time_ms
from sightline.sim.video_feed import FrameEncoder

START_MS = 1_795_000_000_000


def _units(
    count: int, codec: VideoCodec = VideoCodec.H264, *, base_90k: int = 123_456
) -> list[AccessUnit]:
    settings = VideoSettings(codec=codec, width=320, height=180, fps=10, bitrate_kbps=200, gop_s=1)
    encoder = FrameEncoder(settings)
    pattern = TestPattern(320, 180, label="mp4")
    units = []
    for index in range(count):
        picture = pattern.render(
            unix_ms=START_MS + index * 100, ptz=PtzPosition(0, 0, 1, False), frame_index=index
        )
        for data, key in encoder.encode(picture, index, force_key=index == 0):
            pts = base_90k + index * 9000
            units.append(AccessUnit(codec.ps_codec, 0xE0, pts, pts, data, key))
    encoder.close()
    return units


def _read(path: Path) -> tuple[float, list[int]]:
    with av.open(io.BytesIO(path.read_bytes()), "r", format="mp4") as container:
        assert container.duration is not None
        duration = container.duration / 1e6
        times = [read_time_ms(f.to_ndarray(format="gray")) for f in container.decode(video=0)]
    return duration, [t for t in times if t is not None]


@pytest.mark.parametrize("codec", [VideoCodec.H264, VideoCodec.H265])
def test_units_become_a_plain_mp4_starting_at_zero(tmp_path: Path, codec: VideoCodec) -> None:
    writer = Mp4Writer(tmp_path / "out" / "clip.mp4")
    audio = AccessUnit(Codec.G711A, 0xC0, 0, 0, b"\x00" * 160, True)
    assert not writer.write(audio)
    for unit in _units(30, codec):
        writer.write(unit)
    path = writer.close()
    data = path.read_bytes()
    assert data[4:8] == b"ftyp" and b"moov" in data and b"moof" not in data
    duration, times = _read(path)
    assert abs(duration - 3.0) <= 0.15
    assert times[0] == START_MS and times[-1] == START_MS + 2900 and len(times) == 30
    assert not list((tmp_path / "out").glob("*.partial"))


def test_frames_before_the_first_key_frame_are_skipped(tmp_path: Path) -> None:
    units = _units(25)
    writer = Mp4Writer(tmp_path / "clip.mp4")
    later = [u for u in units[1:]]
    assert not writer.write(later[0])  # a delta frame first: nothing to decode it from
    key_at = next(i for i, u in enumerate(later) if u.keyframe)
    for unit in later[key_at:]:
        writer.write(unit)
    _, times = _read(writer.close())
    assert times[0] == START_MS + (key_at + 1) * 100


def test_timestamps_that_go_back_are_kept_in_order(tmp_path: Path) -> None:
    units = _units(20)
    jumped = units[:10] + [
        AccessUnit(u.codec, u.stream_id, u.pts_90k - 50_000, u.dts_90k - 50_000, u.data, u.keyframe)
        for u in units[10:]
    ]
    writer = Mp4Writer(tmp_path / "clip.mp4")
    for unit in jumped:
        writer.write(unit)
    _, times = _read(writer.close())
    assert len(times) == 20


def test_nothing_written_is_an_error_and_discard_leaves_nothing(tmp_path: Path) -> None:
    empty = Mp4Writer(tmp_path / "empty.mp4")
    with pytest.raises(Mp4WriterError):
        empty.close()
    writer = Mp4Writer(tmp_path / "gone.mp4")
    for unit in _units(5):
        writer.write(unit)
    writer.discard()
    assert list(tmp_path.iterdir()) == []
    mpeg4 = AccessUnit(Codec.MPEG4, 0xE0, 0, 0, b"\x00\x00\x01\xb6", True)
    with pytest.raises(Mp4WriterError):
        Mp4Writer(tmp_path / "m.mp4").write(mpeg4)

"""MaskingTranscoder on real H.264/H.265: the masked region decodes black, the rest intact."""

from __future__ import annotations

import av
import numpy as np
import pytest

from sightline.analytics.masked_video import MaskedVideo, MaskingTranscoder
from sightline.analytics.masking import PrivacyMask
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from tests.media.video import encode_pattern

QUARTER = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5))
RIGHT_HALF = ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))


def units(codec: str) -> list[AccessUnit]:
    ps_codec = Codec.H264 if codec == "libx264" else Codec.H265
    return [
        AccessUnit(ps_codec, 0xE0, f.pts_90k, f.dts_90k, f.data, f.keyframe)
        for f in encode_pattern(codec, 50)
    ]


def decode_luma(encoded: list[AccessUnit], decoder: str = "h264") -> list[np.ndarray]:
    ctx = av.CodecContext.create(decoder, "r")
    assert isinstance(ctx, av.VideoCodecContext)
    pictures = []
    for unit in encoded:
        for frame in ctx.decode(av.Packet(unit.data)):
            assert isinstance(frame, av.VideoFrame)
            pictures.append(frame.to_ndarray(format="gray"))
    return pictures


def transcode(transcoder: MaskingTranscoder, source: list[AccessUnit]) -> list[AccessUnit]:
    out = [o for unit in source for o in transcoder.push(unit)]
    return out + transcoder.flush()


@pytest.mark.parametrize(("codec", "decoder"), [("libx264", "h264"), ("libx265", "hevc")])
def test_the_masked_quarter_is_black_and_the_rest_is_the_source(codec: str, decoder: str) -> None:
    source = units(codec)
    transcoder = MaskingTranscoder(PrivacyMask([QUARTER]))
    out = transcode(transcoder, source)
    assert all(u.codec is Codec.H264 for u in out)
    assert out[0].keyframe and transcoder.info is not None
    masked, original = decode_luma(out), decode_luma(source, decoder)
    assert len(masked) == len(original) == 50
    for picture, reference in zip(masked, original, strict=True):
        assert picture[:120, :160].mean() < 20
        assert reference[:120, :160].mean() > 40
        # outside the mask the picture is the source, give or take the re-encode
        rest = np.abs(picture[124:, :].astype(int) - reference[124:, :].astype(int))
        assert rest.mean() < 6


def test_key_frames_come_every_second_for_joining_viewers() -> None:
    out = transcode(MaskingTranscoder(PrivacyMask([QUARTER])), units("libx264"))
    keys = [u.pts_90k for u in out if u.keyframe]
    assert len(keys) == 2 and keys[1] - keys[0] == 90000  # 50 frames at 25 fps, GOP 1 s
    assert [u.pts_90k for u in out] == sorted(u.pts_90k for u in out)


def test_a_new_mask_applies_from_the_next_picture() -> None:
    source = units("libx264")
    transcoder = MaskingTranscoder(PrivacyMask([QUARTER]))
    out = [o for unit in source[:25] for o in transcoder.push(unit)]
    transcoder.set_mask(PrivacyMask([RIGHT_HALF]))
    out += transcode(transcoder, source[25:])
    pictures = decode_luma(out)
    assert pictures[10][:120, :160].mean() < 20 and pictures[10][:, 170:].mean() > 40
    assert pictures[40][:, 160:].mean() < 20 and pictures[40][:120, :150].mean() > 40


def test_undecodable_units_are_counted_and_skipped() -> None:
    transcoder = MaskingTranscoder(PrivacyMask([QUARTER]))
    bad = AccessUnit(Codec.H264, 0xE0, 0, 0, b"\x00\x00\x01\x65" + b"\xff" * 40, True)
    assert transcoder.push(bad) == []  # nothing to encode from it, and no exception
    out = transcode(transcoder, units("libx264"))
    assert len(decode_luma(out)) == 50


def test_other_codecs_are_refused() -> None:
    transcoder = MaskingTranscoder(PrivacyMask([QUARTER]))
    with pytest.raises(ValueError, match="cannot mask"):
        transcoder.push(AccessUnit(Codec.G711A, 0xC0, 0, 0, b"\x00" * 10, True))


# -- MaskedVideo: pass through while unmasked, switch at once when a mask appears ---------------


def test_without_a_mask_units_pass_through_untouched() -> None:
    source = units("libx264")
    video = MaskedVideo(PrivacyMask(()))
    out = [o for unit in source for o in video.push(unit)]
    assert [o.data for o in out] == [u.data for u in source]
    assert not video.encoding and video.encodes == 0


def test_a_mask_set_mid_gop_masks_the_very_next_picture() -> None:
    source = units("libx264")
    video = MaskedVideo(PrivacyMask(()))
    out = [o for unit in source[:12] for o in video.push(unit)]  # mid-GOP: frame 12 of 25
    video.set_mask(PrivacyMask([QUARTER]))
    switched = [o for unit in source[12:] for o in video.push(unit)]
    assert video.encoding and video.encodes == 1 and switched[0].keyframe
    assert switched[0].codec is Codec.H264 and switched[0].pts_90k == source[12].pts_90k
    pictures = decode_luma(out + switched)  # one decoder across the switch, as a player does
    assert len(pictures) == 50
    assert min(p[:120, :160].mean() for p in pictures[:12]) > 40
    assert max(p[:120, :160].mean() for p in pictures[12:]) < 20


def test_an_emptied_mask_keeps_encoding_until_the_source_key_frame() -> None:
    source = units("libx264")  # key frames at 0 and 25
    video = MaskedVideo(PrivacyMask([QUARTER]))
    out = [o for unit in source[:10] for o in video.push(unit)]
    video.set_mask(PrivacyMask(()))
    tail = [o for unit in source[10:] for o in video.push(unit)]
    assert [o.data for o in tail[15:]] == [u.data for u in source[25:]]  # the camera's again
    assert not video.encoding
    pictures = decode_luma(out + tail)
    assert max(p[:120, :160].mean() for p in pictures[:10]) < 20
    # re-encoded (without the mask) up to the key frame, the camera's own after it
    assert min(p[:120, :160].mean() for p in pictures[10:]) > 40
    dts = [u.dts_90k for u in out + tail]
    assert dts == sorted(set(dts))


def test_without_a_gop_start_nothing_unmasked_leaks() -> None:
    source = units("libx264")
    video = MaskedVideo(PrivacyMask([QUARTER]))
    out = [o for unit in source[5:] for o in video.push(unit)]  # joined mid-GOP, no key frame
    pictures = decode_luma(out)
    assert pictures and max(p[:120, :160].mean() for p in pictures) < 20


def test_a_switch_on_a_b_frame_source_keeps_decode_order_times_increasing() -> None:
    source = [
        AccessUnit(Codec.H264, 0xE0, f.pts_90k, f.dts_90k, f.data, f.keyframe)
        for f in encode_pattern("libx264", 50, bframes=2)
    ]
    video = MaskedVideo(PrivacyMask(()))
    out = [o for unit in source[:13] for o in video.push(unit)]
    video.set_mask(PrivacyMask([QUARTER]))
    out += [o for unit in source[13:] for o in video.push(unit)]
    dts = [u.dts_90k for u in out]
    assert dts == sorted(set(dts))
    pictures = decode_luma(out)
    assert len(pictures) >= 45 and max(p[:120, :160].mean() for p in pictures[-20:]) < 20

"""SPS parsing (H.264 §7.3.2.1.1, H.265 §7.3.2.2) and MP4 decoder configuration records.

Only what a browser needs is read: profile, level and picture size for the codec string
(RFC 6381 ``avc1.PPCCLL``; ISO/IEC 14496-15 Annex E ``hvc1.…``), plus the fields that the
avcC (§5.3.3.1) and hvcC (§8.3.3.1) records repeat from the SPS.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sightline.media.errors import EsError
from sightline.media.ps_format import Codec

__all__ = ["SpsInfo", "avc_decoder_config", "hevc_decoder_config", "parse_sps", "unescape_rbsp"]

_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


@dataclass(frozen=True, slots=True)
class SpsInfo:
    """What an SPS says about the stream; ``codec_string`` is for MSE/WebCodecs."""

    codec: Codec
    width: int
    height: int
    profile_idc: int
    level_idc: int
    codec_string: str
    chroma_format_idc: int = 1
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8
    constraint_flags: int = 0  # H.264: the byte after profile_idc
    profile_space: int = 0
    tier_flag: int = 0
    compatibility_flags: int = 0
    constraint_indicator: bytes = bytes(6)
    max_sub_layers: int = 1
    temporal_id_nesting: bool = True


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (``00 00 03`` → ``00 00``)."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Bits:
    """Big-endian bit reader with Exp-Golomb codes; EsError when it runs out."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = 8 * len(data)

    def u(self, n: int) -> int:
        if n > self._left:
            raise EsError("SPS ends early")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise EsError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def parse_sps(codec: Codec, nal: bytes) -> SpsInfo:
    """Parse an SPS NAL unit (header included, no start code); raises EsError if malformed."""
    if codec is Codec.H264:
        return _parse_h264(unescape_rbsp(nal))
    if codec is Codec.H265:
        return _parse_h265(unescape_rbsp(nal))
    raise EsError(f"no SPS parser for {codec.value}")


def _skip_scaling_list(r: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se()) % 256
        last = nxt or last


def _parse_h264(nal: bytes) -> SpsInfo:
    if len(nal) < 4 or nal[0] & 0x1F != 7:
        raise EsError("not an H.264 SPS")
    profile, constraints, level = nal[1], nal[2], nal[3]
    r = _Bits(nal[4:])
    r.ue()  # seq_parameter_set_id
    chroma, depth_l, depth_c = 1, 8, 8
    if profile in _HIGH_PROFILES:
        chroma = r.ue()
        if chroma == 3:
            r.u(1)  # separate_colour_plane_flag
        depth_l, depth_c = r.ue() + 8, r.ue() + 8
        r.u(1)  # qpprime_y_zero_transform_bypass_flag
        if r.u(1):
            for i in range(8 if chroma != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.u(1)
    width_mbs, height_units = r.ue() + 1, r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)
    r.u(1)
    crop = (r.ue(), r.ue(), r.ue(), r.ue()) if r.u(1) else (0, 0, 0, 0)
    sub_w, sub_h = (2, 2) if chroma == 1 else (2, 1) if chroma == 2 else (1, 1)
    if chroma == 0:
        sub_w = sub_h = 1
    sub_h *= 2 - frame_mbs_only
    width = width_mbs * 16 - sub_w * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - sub_h * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise EsError(f"H.264 SPS gives an impossible size {width}x{height}")
    return SpsInfo(
        codec=Codec.H264,
        width=width,
        height=height,
        profile_idc=profile,
        level_idc=level,
        codec_string=f"avc1.{profile:02X}{constraints:02X}{level:02X}",
        chroma_format_idc=chroma,
        bit_depth_luma=depth_l,
        bit_depth_chroma=depth_c,
        constraint_flags=constraints,
    )


def _parse_h265(nal: bytes) -> SpsInfo:
    if len(nal) < 3 or (nal[0] >> 1) & 0x3F != 33:
        raise EsError("not an H.265 SPS")
    r = _Bits(nal[2:])
    r.u(4)  # sps_video_parameter_set_id
    sub_layers = r.u(3) + 1
    nesting = bool(r.u(1))
    space, tier, profile = r.u(2), r.u(1), r.u(5)
    compat = r.u(32)
    constraint = r.u(48).to_bytes(6, "big")
    level = r.u(8)
    flags = [(r.u(1), r.u(1)) for _ in range(sub_layers - 1)]
    if sub_layers > 1:
        r.u(2 * (9 - sub_layers))
    for profile_present, level_present in flags:
        r.u(88 * profile_present + 8 * level_present)
    r.ue()  # sps_seq_parameter_set_id
    chroma = r.ue()
    if chroma == 3:
        r.u(1)
    width, height = r.ue(), r.ue()
    if r.u(1):  # conformance_window_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        sub_w = 2 if chroma in (1, 2) else 1
        sub_h = 2 if chroma == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    depth_l, depth_c = r.ue() + 8, r.ue() + 8
    if width <= 0 or height <= 0:
        raise EsError(f"H.265 SPS gives an impossible size {width}x{height}")
    return SpsInfo(
        codec=Codec.H265,
        width=width,
        height=height,
        profile_idc=profile,
        level_idc=level,
        codec_string=_hevc_codec_string(
            space, profile, compat, tier, level=level, constraint=constraint
        ),
        chroma_format_idc=chroma,
        bit_depth_luma=depth_l,
        bit_depth_chroma=depth_c,
        profile_space=space,
        tier_flag=tier,
        compatibility_flags=compat,
        constraint_indicator=constraint,
        max_sub_layers=sub_layers,
        temporal_id_nesting=nesting,
    )


def _hevc_codec_string(
    space: int, profile: int, compat: int, tier: int, *, level: int, constraint: bytes
) -> str:
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    parts = [
        "hvc1",
        f"{'' if space == 0 else 'ABC'[space - 1]}{profile}",
        f"{reversed_compat:X}",
        f"{'H' if tier else 'L'}{level}",
    ]
    trimmed = constraint.rstrip(b"\x00")
    parts += [f"{b:X}" for b in trimmed]
    return ".".join(parts)


def avc_decoder_config(sps: list[bytes], pps: list[bytes]) -> bytes:
    """An AVCDecoderConfigurationRecord (avcC) with 4-byte NAL lengths."""
    if not sps or not pps:
        raise EsError("avcC needs at least one SPS and one PPS")
    info = parse_sps(Codec.H264, sps[0])
    out = bytearray((1, info.profile_idc, info.constraint_flags, info.level_idc, 0xFF))
    out.append(0xE0 | len(sps))
    for nal in sps:
        out += struct.pack("!H", len(nal)) + nal
    out.append(len(pps))
    for nal in pps:
        out += struct.pack("!H", len(nal)) + nal
    if info.profile_idc in _HIGH_PROFILES:
        out += bytes(
            (
                0xFC | info.chroma_format_idc,
                0xF8 | (info.bit_depth_luma - 8),
                0xF8 | (info.bit_depth_chroma - 8),
                0,
            )
        )
    return bytes(out)


def hevc_decoder_config(vps: list[bytes], sps: list[bytes], pps: list[bytes]) -> bytes:
    """An HEVCDecoderConfigurationRecord (hvcC) with 4-byte NAL lengths."""
    if not vps or not sps or not pps:
        raise EsError("hvcC needs at least one VPS, SPS and PPS")
    info = parse_sps(Codec.H265, sps[0])
    out = bytearray((1, (info.profile_space << 6) | (info.tier_flag << 5) | info.profile_idc))
    out += info.compatibility_flags.to_bytes(4, "big") + info.constraint_indicator
    out.append(info.level_idc)
    out += struct.pack("!H", 0xF000)  # min_spatial_segmentation_idc 0
    out.append(0xFC)  # parallelismType 0
    out.append(0xFC | info.chroma_format_idc)
    out.append(0xF8 | (info.bit_depth_luma - 8))
    out.append(0xF8 | (info.bit_depth_chroma - 8))
    out += struct.pack("!H", 0)  # avgFrameRate unknown
    out.append((info.max_sub_layers << 3) | (int(info.temporal_id_nesting) << 2) | 3)
    arrays = [(32, vps), (33, sps), (34, pps)]
    out.append(len(arrays))
    for nal_type, nals in arrays:
        out.append(0x80 | nal_type)  # array_completeness 1
        out += struct.pack("!H", len(nals))
        for nal in nals:
            out += struct.pack("!H", len(nal)) + nal
    return bytes(out)

"""Tests for MANSCDP charset detection and output charsets."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.manscdp import ManscdpError
from sightline.gb28181.manscdp.charset import (
    declared_encoding,
    decode_body,
    normalise_charset,
    output_codec,
)

DOC = '<?xml version="1.0" encoding="{}"?><Notify><Name>{}</Name></Notify>'
CHINESE = "南山区科技园 东门 报警输入"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("GB2312", "gb18030"),
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("GB18030", "gb18030"),
        ("GB_2312-80", "gb18030"),
        ("cp936", "gb18030"),
        ("UTF-8", "utf-8"),
        ("utf8", "utf-8"),
        ("ISO-8859-1", "iso8859-1"),
        ("no-such-charset", None),
    ],
)
def test_normalise_charset(label: str, codec: str | None) -> None:
    assert normalise_charset(label) == codec


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (b'<?xml version="1.0" encoding="GB2312"?><a/>', "GB2312"),
        (b"<?xml version='1.0' encoding='utf-8' standalone='yes'?><a/>", "utf-8"),
        (b'\x00 <?xml version="1.0" encoding = "GBK" ?><a/>', "GBK"),
        (b'<?xml version="1.0"?><a/>', None),
        (b"<a/>", None),
        (b'<a encoding="UTF-8"/>', None),
    ],
)
def test_declared_encoding(body: bytes, label: str | None) -> None:
    assert declared_encoding(body) == label


@pytest.mark.parametrize("declared", ["GB2312", "UTF-8", "GBK"])
@pytest.mark.parametrize("sent", ["gb2312", "utf-8", "gb18030"])
def test_chinese_text_survives_any_label(declared: str, sent: str) -> None:
    body = DOC.format(declared, CHINESE).encode(sent)
    assert CHINESE in decode_body(body)


def test_boms_are_honoured() -> None:
    text = DOC.format("GB2312", CHINESE)
    assert CHINESE in decode_body(codecs.BOM_UTF8 + text.encode())
    assert CHINESE in decode_body(text.encode("utf-16"))


def test_hint_wins_when_it_decodes() -> None:
    body = DOC.format("UTF-8", "Ü").encode("latin-1")
    assert "Ü" in decode_body(body, "latin-1")
    assert "Ü" not in decode_body(body)


def test_unusable_hint_falls_back_to_detection() -> None:
    body = DOC.format("GB2312", CHINESE).encode("gb2312")
    assert CHINESE in decode_body(body, "utf-8")
    assert CHINESE in decode_body(body, "made-up")


def test_other_declared_charsets_are_used_when_nothing_else_fits() -> None:
    body = DOC.format("Big5", "東門").encode("big5")
    # Big5 bytes are usually valid GB 18030 too; this pair is not valid UTF-8 either way.
    assert decode_body(body)


def test_undecodable_bytes_are_decoded_lossily() -> None:
    body = b'<?xml version="1.0" encoding="UTF-8"?><a>\x81\x30</a>'
    assert "\ufffd" in decode_body(body)


@pytest.mark.parametrize(
    ("charset", "codec", "label"),
    [
        ("GB2312", "gb18030", "GB2312"),
        ("gbk", "gb18030", "GBK"),
        ("GB18030", "gb18030", "GB18030"),
        ("utf-8", "utf-8", "UTF-8"),
        ("UTF8", "utf-8", "UTF-8"),
    ],
)
def test_output_codec(charset: str, codec: str, label: str) -> None:
    assert output_codec(charset) == (codec, label)


@pytest.mark.parametrize("charset", ["latin-1", "EBCDIC", ""])
def test_output_codec_refuses_other_charsets(charset: str) -> None:
    with pytest.raises(ManscdpError, match="unsupported"):
        output_codec(charset)


COMMON_HANZI = st.text(
    st.sampled_from("东南西北门口楼层一二三号路街区市省县镇村公安监控点"), max_size=20
)


@given(COMMON_HANZI, st.sampled_from(["GB2312", "UTF-8"]))
def test_declared_charset_is_honoured_for_correctly_labelled_bodies(name: str, label: str) -> None:
    body = DOC.format(label, name).encode("gb18030" if label == "GB2312" else "utf-8")
    assert f"<Name>{name}</Name>" in decode_body(body)

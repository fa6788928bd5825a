def send_rtp(
    fd: int,
    address: tuple[str, int],
    pack: bytes | bytearray | memoryview,
    payload_type: int,
    ssrc: int,
    sequence: int,
    timestamp: int,
    max_payload: int,
    /,
) -> tuple[int, int, int]: ...

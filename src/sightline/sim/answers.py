"""What a simulated device answers to each MANSCDP command (sans-IO).

:func:`react` maps one decoded message to a :class:`Reaction`: the Response bodies to send, each
as its own MESSAGE after the 200 (the standard's two-step answer), plus side effects the host
carries out (reboot). PTZ commands change the channel's :class:`~.ptz_state.PtzState` here.

Choices made where the standard leaves room:

* Catalog answers are split into messages of ``catalog_page_size`` items (8, like many NVRs),
  all carrying the query's SN and the total ``SumNum``; the host sends them one after another.
* RecordInfo answers from the channel's simulated history (:mod:`.history`), in messages of
  ``catalog_page_size`` items; the query's times are read as Beijing time, like the device's
  own clock; an unknown channel gets ``SumNum`` 0.
* PTZ, TeleBoot, IFrame and DragZoom get no Response MESSAGE; RecordCmd, GuardCmd, AlarmCmd,
  HomePosition and DeviceConfig get ``Result`` OK; a DeviceControl with nothing in it gets ERROR.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sightline.gb28181.errors import InvalidPtzCommand
from sightline.gb28181.manscdp import (
    BasicParam,
    CatalogItem,
    CatalogQuery,
    CatalogResponse,
    CmdType,
    ConfigDownloadQuery,
    ConfigDownloadResponse,
    DeviceConfig,
    DeviceControl,
    DeviceInfoQuery,
    DeviceInfoResponse,
    DeviceStatusQuery,
    DeviceStatusResponse,
    ManscdpMessage,
    Message,
    Online,
    OnOff,
    PresetItem,
    PresetQuery,
    PresetQueryResponse,
    RecordCmd,
    RecordInfoQuery,
    RecordInfoResponse,
    Result,
    ResultResponse,
    VideoParamOpt,
)
from sightline.sim.device import SimDevice
from sightline.sim.history import SIM_ZONE, record_info_pages, recordings

__all__ = ["Reaction", "catalog_pages", "react"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reaction:
    """Response bodies to send in order, and whether the device now reboots."""

    replies: tuple[Message, ...] = ()
    reboot: bool = False


_NOTHING = Reaction()


def catalog_pages(
    sn: int, device_id: str, items: list[CatalogItem], page_size: int
) -> tuple[CatalogResponse, ...]:
    """A catalog split into messages of at most ``page_size`` items."""
    total = len(items)
    if total == 0:
        return (CatalogResponse(sn=sn, device_id=device_id, sum_num=0),)
    return tuple(
        CatalogResponse(
            sn=sn, device_id=device_id, sum_num=total, items=tuple(items[i : i + page_size])
        )
        for i in range(0, total, page_size)
    )


def react(device: SimDevice, msg: ManscdpMessage, now: float, local_time: datetime) -> Reaction:
    """The device's reaction to one decoded MANSCDP message."""
    if isinstance(msg, DeviceControl):
        return _control(device, msg, now)
    replies: tuple[Message, ...]
    if isinstance(msg, CatalogQuery):
        replies = catalog_pages(
            msg.sn, device.device_id, device.catalog(), device.profile.config.catalog_page_size
        )
    elif isinstance(msg, DeviceInfoQuery):
        replies = (_device_info(device, msg.sn),)
    elif isinstance(msg, DeviceStatusQuery):
        replies = (_device_status(device, msg.sn, local_time),)
    elif isinstance(msg, RecordInfoQuery):
        replies = _record_info(device, msg, local_time)
    elif isinstance(msg, PresetQuery):
        replies = (_presets(device, msg, now),)
    elif isinstance(msg, ConfigDownloadQuery):
        replies = _config_download(device, msg)
    elif isinstance(msg, DeviceConfig):
        replies = (_result(msg, CmdType.DEVICE_CONFIG, Result.OK),)
    else:
        # platform answers to our alarms, and commands a camera would not know
        log.debug("device %s ignores %s", device.device_id, msg.command)
        return _NOTHING
    return Reaction(replies)


def _record_info(
    device: SimDevice, msg: RecordInfoQuery, local_time: datetime
) -> tuple[RecordInfoResponse, ...]:
    index = device.channel_index(msg.device_id)
    if index is None or msg.end_time <= msg.start_time:
        return (RecordInfoResponse(sn=msg.sn, device_id=msg.device_id, sum_num=0),)
    start = msg.start_time.replace(tzinfo=SIM_ZONE).timestamp()
    end = msg.end_time.replace(tzinfo=SIM_ZONE).timestamp()
    now = local_time.replace(tzinfo=SIM_ZONE).timestamp()
    files = recordings(msg.device_id, start, end, now)
    size = device.profile.config.catalog_page_size
    return record_info_pages(msg.sn, msg.device_id, files, SIM_ZONE, size)


def _result(msg: Message, cmd: CmdType, result: Result) -> ResultResponse:
    return ResultResponse(sn=msg.sn, device_id=msg.device_id, cmd_type=cmd, result=result)


def _device_info(device: SimDevice, sn: int) -> DeviceInfoResponse:
    config = device.profile.config
    return DeviceInfoResponse(
        sn=sn,
        device_id=device.device_id,
        device_name=device.name,
        result=Result.OK,
        manufacturer=config.manufacturer,
        model=device.profile.model,
        firmware=config.firmware,
        channel=device.channel_count,
    )


def _device_status(device: SimDevice, sn: int, local_time: datetime) -> DeviceStatusResponse:
    extras = device.extras
    return DeviceStatusResponse(
        sn=sn,
        device_id=device.device_id,
        result=Result.OK,
        online=Online.ONLINE,
        status=Result.OK,
        encode=OnOff.ON,
        record=OnOff.ON if extras is not None and extras.recording else OnOff.OFF,
        device_time=local_time.replace(microsecond=0),
    )


def _presets(device: SimDevice, msg: PresetQuery, now: float) -> PresetQueryResponse:
    index = device.channel_index(msg.device_id)
    items: tuple[PresetItem, ...] = ()
    if index is not None and device.extras is not None and index in device.extras.ptz:
        numbers = sorted(device.ptz(index, now).presets)
        items = tuple(PresetItem(preset_id=str(n), preset_name=f"预置点{n}") for n in numbers)
    return PresetQueryResponse(sn=msg.sn, device_id=msg.device_id, items=items)


def _config_download(
    device: SimDevice, msg: ConfigDownloadQuery
) -> tuple[ConfigDownloadResponse, ...]:
    config = device.profile.config
    out: list[ConfigDownloadResponse] = []
    for kind in msg.config_types or ("BasicParam",):
        if kind.lower() == "basicparam":
            basic = BasicParam(
                name=device.name,
                expiration=config.expires_s,
                heart_beat_interval=round(config.keepalive_s),
                heart_beat_count=config.keepalive_max_failures,
            )
            out.append(_config(msg, Result.OK, basic=basic))
        elif kind.lower() == "videoparamopt":
            opt = VideoParamOpt(download_speed="1/2/4", resolution="6/4")
            out.append(_config(msg, Result.OK, opt=opt))
        else:
            out.append(_config(msg, Result.ERROR))
    return tuple(out)


def _config(
    msg: ConfigDownloadQuery,
    result: Result,
    *,
    basic: BasicParam | None = None,
    opt: VideoParamOpt | None = None,
) -> ConfigDownloadResponse:
    return ConfigDownloadResponse(
        sn=msg.sn, device_id=msg.device_id, result=result, basic_param=basic, video_param_opt=opt
    )


def _control(device: SimDevice, msg: DeviceControl, now: float) -> Reaction:
    if msg.ptz_cmd is not None:
        _ptz(device, msg, now)
        return _NOTHING
    if msg.tele_boot:
        return Reaction(reboot=True)
    if msg.iframe or msg.drag_zoom_in is not None or msg.drag_zoom_out is not None:
        return _NOTHING  # acknowledged by the 200 alone
    result = Result.OK
    if msg.record_cmd is not None:
        device.extra().recording = msg.record_cmd is RecordCmd.RECORD
    elif msg.guard_cmd is not None:
        device.extra().guard = msg.guard_cmd.value == "SetGuard"
    elif msg.home_position is None and not msg.alarm_reset:
        result = Result.ERROR
    return Reaction((_result(msg, CmdType.DEVICE_CONTROL, result),))


def _ptz(device: SimDevice, msg: DeviceControl, now: float) -> None:
    index = device.channel_index(msg.device_id)
    if index is None:
        log.info("device %s: PTZ for %s, which is not a channel", device.device_id, msg.device_id)
        return
    try:
        command = msg.ptz()
    except InvalidPtzCommand as exc:
        log.info("device %s: bad PTZCmd %r: %s", device.device_id, msg.ptz_cmd, exc)
        return
    if command is not None and not device.ptz(index, now).apply(command, now):
        log.debug("device %s: PTZ %s not simulated", device.device_id, command.kind.value)

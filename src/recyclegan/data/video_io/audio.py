"""Carrying the audio of the input into the output video, in step with its frames."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import av

from recyclegan.data.video_io.common import reason
from recyclegan.errors import RecycleganError

# What to re-encode audio as where the output container cannot hold the input's codec.
AUDIO_ENCODERS = {
    ".mp4": "aac",
    ".mov": "aac",
    ".mkv": "libopus",
    ".webm": "libopus",
    ".avi": "libmp3lame",
}


class AudioCarrier:
    """Muxes every audio stream of `source` into `output`.

    Packets are copied as they are, except where the container cannot hold the codec (AAC in
    webm): then that stream is decoded and re-encoded, with a warning. A second demuxer over
    the source is read only up to the time of the latest video frame (`feed`), so audio and
    video interleave as they are written and no audio piles up in memory.
    """

    def __init__(self, output: av.container.OutputContainer, source: Path, suffix: str) -> None:
        self._output = output
        self._source = source
        try:
            self._input = av.open(str(source), metadata_errors="replace")
        except av.FFmpegError as error:
            raise RecycleganError(f"{source}: cannot read its audio ({reason(error)})") from None
        self._routes: dict[int, tuple[av.AudioStream, bool]] = {}
        for stream in self._input.streams.audio:
            codec = stream.codec_context.codec.canonical_name
            if codec in output.supported_codecs:
                self._routes[stream.index] = (output.add_stream_from_template(stream), False)
                continue
            target = AUDIO_ENCODERS[suffix]
            encoded = output.add_stream(target, rate=_sample_rate(target, stream.rate))
            channels = stream.layout.nb_channels
            encoded.layout = "stereo" if target == "libmp3lame" and channels > 2 else stream.layout
            warnings.warn(
                f"{source}: a {suffix} file cannot hold {codec} audio; re-encoding it as {target}",
                stacklevel=3,
            )
            self._routes[stream.index] = (encoded, True)
        audio = self._input.streams.audio
        self._packets = self._input.demux(*audio) if audio else iter(())
        self._next = self._advance()

    def feed(self, until: float) -> None:
        """Mux the source's audio packets that start at or before `until` seconds."""
        while self._next is not None and _start(self._next) <= until:
            self._mux(self._next)
            self._next = self._advance()

    def finish(self) -> None:
        """Mux the rest of the audio and drain the encoders."""
        self.feed(math.inf)
        for stream, encode in self._routes.values():
            if encode:
                self._output.mux(stream.encode(None))
        self.close()

    def close(self) -> None:
        self._input.close()

    def _advance(self) -> av.Packet | None:
        try:
            return next(self._packets, None)
        except av.FFmpegError as error:
            warnings.warn(
                f"{self._source}: audio copied only in part, the rest is unreadable "
                f"({reason(error)})",
                stacklevel=2,
            )
            return None

    def _mux(self, packet: av.Packet) -> None:
        stream, encode = self._routes[packet.stream.index]
        if not encode:
            if packet.size:  # empty packets only mark the end of the input
                packet.stream = stream
                self._output.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError:
            return  # a damaged audio packet: a moment of silence beats failing the whole video
        for frame in frames:
            self._output.mux(stream.encode(frame))


def _start(packet: av.Packet) -> float:
    timestamp = packet.pts if packet.pts is not None else packet.dts
    if timestamp is None or packet.time_base is None:
        return -math.inf  # no time: send it straight on
    return float(timestamp * packet.time_base)


def _sample_rate(codec: str, rate: int) -> int:
    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return rate
    return 48000 if 48000 in rates else max(rates)

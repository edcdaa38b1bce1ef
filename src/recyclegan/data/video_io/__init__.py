"""Reading and writing video files and frame folders. This is the only package that imports PyAV."""

from recyclegan.data.video_io.common import (
    ENCODERS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    StreamInfo,
    VideoInfo,
    probe_video,
)
from recyclegan.data.video_io.damage import DecodeError, describe_decode_errors
from recyclegan.data.video_io.frame_folder import FrameFolderWriter
from recyclegan.data.video_io.reader import Frame, VideoReader, iter_video_frames
from recyclegan.data.video_io.writer import (
    DEFAULT_ENCODER_PRESET,
    ENCODER_PRESETS,
    VideoWriter,
    open_writer,
    write_video,
)

__all__ = [
    "DEFAULT_ENCODER_PRESET",
    "ENCODERS",
    "IMAGE_EXTENSIONS",
    "ENCODER_PRESETS",
    "VIDEO_EXTENSIONS",
    "DecodeError",
    "Frame",
    "FrameFolderWriter",
    "StreamInfo",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "describe_decode_errors",
    "iter_video_frames",
    "open_writer",
    "probe_video",
    "write_video",
]

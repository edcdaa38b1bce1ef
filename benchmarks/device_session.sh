#!/usr/bin/env bash
# The GPU measurements issue 5 still owes, as jobs that each fit one 10-minute device call.
#
#   bash benchmarks/device_session.sh train     # ~4 min on an H200 (one compile, ~2 min)
#   bash benchmarks/device_session.sh infer     # ~4 min; end to end needs PyAV
#   bash benchmarks/device_session.sh quality   # ~6 min: bf16 against fp32, three seeds
#
# Run from the repository root. Logs go to $OUT (the device tool's output folder) or
# /tmp/device_session; a job stops its commands at DEADLINE seconds (default 560) and exits
# non-zero if any failed or was cut short. It imports the package from src/ without installing it; where PyAV is
# missing and the machine has no internet, carry a wheel for its Python in .whl/
# (`pip download av==18.1.0 --only-binary=:all: --python-version 3.X -d .whl`), which
# is installed from there. A dry run on the CPU checks the commands in a minute or two:
#
#   DRY=1 bash benchmarks/device_session.sh train
set -uo pipefail

job=${1:-}
if [[ ! "$job" =~ ^(train|infer|quality)$ ]]; then
    echo "usage: device_session.sh train|infer|quality" >&2
    exit 2
fi
out=${OUT:-/tmp/device_session}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}

if [[ -n "${DRY:-}" ]]; then  # tiny settings on the CPU, to check the commands only
    device=cpu size=32 model=tiny steps=1 warmup=1 batches_big=2 gen_batch=2 frames=8
    variants_fast="bf16" variants_compiled="fp32" variant_infer=fast quality_config=smoke
else
    device=cuda size=256 model=paper steps=10 warmup=3 batches_big=32 gen_batch=128 frames=2000
    variants_fast="bf16" variants_compiled="bf16-cl-compile" variant_infer=fast-compiled
    quality_config=gpu-short
fi

deadline=${DEADLINE:-560}  # seconds for the whole job: under the device's 600 s a call

run() {  # run NAME COMMAND...: log to $out/NAME.log, stopped at the job's deadline
    local name=$1; shift
    local left=$((deadline - SECONDS))
    if ((left < 30)); then
        echo "== $name: skipped, $left s left of the job's $deadline" | tee -a "$out/session.log"
        failed=1
        return
    fi
    echo "== $name: $*" | tee -a "$out/session.log"
    local start=$SECONDS
    timeout "$left" "$@" >"$out/$name.log" 2>&1
    local code=$?
    echo "== $name: exit $code after $((SECONDS - start)) s" | tee -a "$out/session.log"
    tail -n 25 "$out/$name.log"
    [[ $code == 0 ]] || failed=1
}

{
    date -u
    git rev-parse --short HEAD 2>/dev/null || true
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
    "$py" -c "import sys, torch; print(sys.version.split()[0], torch.__version__)"
} | tee "$out/session.log"

if ! "$py" -c "import av" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    "$py" -m pip install --quiet --no-index --find-links .whl av 2>&1 | tail -n 3
fi
failed=0
missing=$("$py" -c "
import importlib.util
names = ['numpy', 'safetensors', 'yaml', 'rich', 'cv2', 'av']
print(' '.join(n for n in names if importlib.util.find_spec(n) is None))")
[[ -n "$missing" ]] && echo "missing Python modules: $missing" | tee -a "$out/session.log"

case "$job" in
    train)
        # Batch 1 eager: peak memory against the authors' 3.35 GiB. Then the compiled
        # channels_last step at batch 32, the first measure of the NHWC instance norm.
        run train_batch1 "$py" benchmarks/train_throughput.py --device "$device" --size "$size" \
            --model-size "$model" --batch-sizes 1 --variants $variants_fast \
            --steps "$steps" --warmup "$warmup"
        run train_compiled "$py" benchmarks/train_throughput.py --device "$device" \
            --size "$size" --model-size "$model" --batch-sizes "$batches_big" \
            --variants $variants_compiled --steps "$steps" --warmup "$warmup"
        ;;
    infer)
        # The generator alone, compiled, and retarget end to end with the fastest encoder
        # preset: mark and YUV conversion on the device, and cuDNN autotuning, are unmeasured.
        run infer "$py" benchmarks/retarget_throughput.py --device "$device" --size "$size" \
            --model-size "$model" --variants "$variant_infer" --batch-sizes "$gen_batch" \
            --steps "$steps" --frames "$frames" --encoder-presets ultrafast
        ;;
    quality)
        # bf16 against fp32 on the same data and seeds (issue 5: within the seed spread).
        run quality "$py" benchmarks/quality.py --config "$quality_config" --out "$out/quality" \
            --precision bf16 fp32 --presets recycle+cycle --seeds 0 1 2
        ;;
esac
exit $failed

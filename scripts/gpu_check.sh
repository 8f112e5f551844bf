#!/usr/bin/env bash
# Every CUDA path measured once, in one command: see scripts/gpu_check.py for the steps.
#
#   scripts/gpu_check.sh [--dry-run] [--out DIR] [--budget-s S] [--runs N]
#
# On a machine without network (the GPU machine), Python packages the image lacks (rosbags
# and its needs, soundfile, cffi) can come as wheels in $AVS_WHEELS (default: .whl/ in the
# repository); they are installed into a temporary folder, never into the system. Without
# them the package must already be importable (pip install -e .[replay,train] elsewhere).
# Python: $PYTHON, else the venv's python if .venv exists, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
wheels=${AVS_WHEELS:-$root/.whl}
py=${PYTHON:-}
if [[ -z $py ]]; then
    if [[ -x $root/.venv/bin/python ]]; then py=$root/.venv/bin/python; else py=python3; fi
fi
if compgen -G "$wheels/*.whl" >/dev/null; then
    site=$(mktemp -d /tmp/avs-gpu-check-site.XXXXXX)
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
        "$wheels"/*.whl
    export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi || echo "nvidia-smi: not found (no NVIDIA driver here)"
exec "$py" "$root/scripts/gpu_check.py" "$@"

#!/usr/bin/env bash
# Set up (or update) the project's virtual environment. Idempotent and quick when nothing changed.
#   scripts/bootstrap.sh [EXTRAS]      e.g. "onnx,train" (default) or "onnx,train,test"
# Environment: AVS_VENV (default .venv in the repo), PYTHON (default python3).
# torch: where the venv has none, torch==2.13.0 is installed (a CPU wheel on machines without
# CUDA wheels nearby); an existing torch is kept.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${AVS_VENV:-$root/.venv}
extras=${1:-onnx,train}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

stamp="$venv/.avs-bootstrap-$(echo "$extras" | tr ',' '-')"
key=$(cat "$root/setup.py" "$root/scripts/bootstrap.sh" | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  exit 0
fi

# colcon-core declares setuptools<80; keep the venv compatible with the ROS build.
"${pip[@]}" --upgrade pip 'setuptools<80' wheel
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "[bootstrap] installing torch==2.13.0"
  "${pip[@]}" torch==2.13.0
fi
echo "[bootstrap] installing avs_ros[$extras]"
"${pip[@]}" -e "$root[$extras]"
if [[ ",$extras," == *",train,"* ]] && ! dpkg -s sonic-pi-samples >/dev/null 2>&1; then
  # SynthAVS uses these CC0 recordings for its struck/plucked classes (synthesised otherwise).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[bootstrap] installing Debian's sonic-pi-samples (SynthAVS recordings)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sonic-pi-samples \
      >/dev/null) || echo "[bootstrap] warning: sonic-pi-samples not installed; SynthAVS will synthesise"
  else
    echo "[bootstrap] note: 'apt-get install sonic-pi-samples' gives SynthAVS real recordings"
  fi
fi
if [[ ",$extras," == *",test,"* ]]; then
  # Reference implementation of the VGGish front end for the tests (numpy only; its
  # package-level imports need resampy, which the tests never import).
  "${pip[@]}" --no-deps torchvggish==0.2
fi
echo "$key" > "$stamp"

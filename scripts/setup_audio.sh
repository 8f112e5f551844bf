#!/usr/bin/env bash
# Sound server and PyAudio for the microphone capture test (test/ros/test_ros_audio_capture.py):
# Debian's pulseaudio (server, pactl, paplay) and portaudio19-dev, then PyAudio built into the
# venv. Idempotent: apt runs only when a package is missing, pip only when PyAudio is not
# importable.
#
#   scripts/setup_audio.sh [VENV]      (VENV defaults to $AVS_VENV, else .venv in the repo)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(realpath -m "${1:-${AVS_VENV:-$root/.venv}}")
packages=(pulseaudio pulseaudio-utils portaudio19-dev libasound2-plugins)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup_audio] apt-get install ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi
[ -x "$venv/bin/python" ] || { echo "[setup_audio] ERROR: no venv at $venv" >&2; exit 1; }
if ! "$venv/bin/python" -c 'import pyaudio' 2>/dev/null; then
  echo "[setup_audio] pip install pyaudio into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'pyaudio>=0.2.13'
fi
echo "[setup_audio] pulseaudio $(pulseaudio --version | awk '{print $2}'), pyaudio" \
  "$("$venv/bin/python" -c 'import pyaudio; print(pyaudio.__version__)')"

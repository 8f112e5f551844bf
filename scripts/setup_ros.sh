#!/usr/bin/env bash
# Install ROS 2 Kilted from PyPI wheels into a virtual environment and build, with colcon and
# the real rosidl pipeline, this package (msg/ + the avs_ros and avs_models Python packages)
# and the two audio_common_msgs test fixtures. Idempotent: a step is skipped when the stamp
# written after its last success matches (this script's hash, the venv, and its sources).
#
#   scripts/setup_ros.sh [VENV]
#
# VENV defaults to $AVS_VENV, else .venv in the repo (the venv of scripts/bootstrap.sh);
# it is created with $PYTHON (default python3) when missing and must be CPython 3.11 (the
# wheels are cp311). Needs cmake >= 3.16, a C/C++ compiler and the interpreter's headers.
#
# Output, all under build/ros/ (git-ignored):
#   src/avs_ros/                   copy of the package sources that colcon builds
#   install/                       avs_ros (merged install space; install/setup.sh)
#   fixtures/ros_drivers/install/  audio_common_msgs, ros-drivers flavour
#   fixtures/mgonzs13/install/     audio_common_msgs, mgonzs13 flavour
#   ros2_launch/install/           composition_interfaces (only with the launch wheels, below)
#   launch_humble/                 Humble's launch/launch_ros/ros2cli (pip --target; tests put
#                                  it first on PYTHONPATH to run `ros2 launch` under Humble's)
#   python                         path of the venv's python the spaces were built for
#   logs/<phase>.log               full output of each phase
#
# The ROS 2 launch system (launch, launch_ros, ros2launch, ros2cli) has no wheels on PyPI.
# Where the folder $AVS_ROS2_LAUNCH (default: ../shared/ros2_launch beside the repo; see its
# README) holds them, built from the upstream sources, its wheels/ (the Jazzy-era set) are
# installed into the venv, its humble/ set into build/ros/launch_humble, and its
# composition_interfaces (which launch_ros imports) is built with colcon; without the folder
# this step is skipped and the `ros2 launch` tests skip (or fail under AVS_REQUIRE_ROS).
# Environment: AVS_ROS_JOBS (compile jobs, default: number of CPUs), AVS_ROS2_LAUNCH.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(realpath -m "${1:-${AVS_VENV:-$root/.venv}}")
out=$root/build/ros
logs=$out/logs
jobs=${AVS_ROS_JOBS:-$(nproc)}
self_hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)

# ROS 2 Kilted meta wheels, pinned to one consistent sync of PyPI (2025-11). Their own
# dependency metadata does not pull in everything that building interfaces needs, so every
# ament_cmake and rosidl piece that rosidl_generate_interfaces() loads is named here.
ROS_RUNTIME=(
  'ros-kilted-rclpy[fastrtps]==9.1.2'
  ros-kilted-builtin-interfaces==2.3.0
  ros-kilted-std-msgs==5.5.1
  ros-kilted-sensor-msgs==5.5.1
  ros-kilted-geometry-msgs==5.5.1
  ros-kilted-visualization-msgs==5.5.1
  ros-kilted-diagnostic-msgs==5.5.1
  ros-kilted-lifecycle-msgs==2.3.0
)
ROS_BUILD=(
  ros-kilted-ament-package==0.17.2
  ros-kilted-ament-cmake==2.7.3
  ros-kilted-ament-cmake-core==2.7.3
  ros-kilted-ament-cmake-export-definitions==2.7.3
  ros-kilted-ament-cmake-export-dependencies==2.7.3
  ros-kilted-ament-cmake-export-include-directories==2.7.3
  ros-kilted-ament-cmake-export-interfaces==2.7.3
  ros-kilted-ament-cmake-export-libraries==2.7.3
  ros-kilted-ament-cmake-export-link-flags==2.7.3
  ros-kilted-ament-cmake-export-targets==2.7.3
  ros-kilted-ament-cmake-gen-version-h==2.7.3
  ros-kilted-ament-cmake-include-directories==2.7.3
  ros-kilted-ament-cmake-libraries==2.7.3
  ros-kilted-ament-cmake-python==2.7.3
  ros-kilted-ament-cmake-target-dependencies==2.7.3
  ros-kilted-ament-cmake-test==2.7.3
  ros-kilted-ament-cmake-version==2.7.3
  ros-kilted-ament-cmake-vendor-package==2.7.3
  ros-kilted-ament-cmake-ros==0.14.5
  ros-kilted-ament-cmake-ros-core==0.14.5
  ros-python-cmake-module==0.11.1
  ros-kilted-rmw-implementation-cmake==7.8.2
  ros-kilted-rosidl-default-generators==1.7.1
  ros-kilted-rosidl-default-runtime==1.7.1
  ros-kilted-rosidl-adapter==4.9.5
  ros-kilted-rosidl-cli==4.9.5
  ros-kilted-rosidl-cmake==4.9.5
  ros-kilted-rosidl-core-generators==0.3.1
  ros-kilted-rosidl-core-runtime==0.3.1
  ros-kilted-rosidl-generator-c==4.9.5
  ros-kilted-rosidl-generator-cpp==4.9.5
  ros-kilted-rosidl-generator-py==0.24.2
  ros-kilted-rosidl-generator-type-description==4.9.5
  ros-kilted-rosidl-parser==4.9.5
  ros-kilted-rosidl-pycommon==4.9.5
  ros-kilted-rosidl-runtime-c==4.9.5
  ros-kilted-rosidl-runtime-cpp==4.9.5
  ros-kilted-rosidl-typesupport-c==3.3.3
  ros-kilted-rosidl-typesupport-cpp==3.3.3
  ros-kilted-rosidl-typesupport-fastrtps-c==3.8.1
  ros-kilted-rosidl-typesupport-fastrtps-cpp==3.8.1
  ros-kilted-rosidl-typesupport-interface==4.9.5
  ros-kilted-rosidl-typesupport-introspection-c==4.9.5
  ros-kilted-rosidl-typesupport-introspection-cpp==4.9.5
)
# Plain PyPI tools of the build. empy 4 changed its API (rosidl needs 3.x); colcon-core 0.21
# declares setuptools<80.
PY_BUILD=(catkin_pkg 'empy==3.3.4' lark numpy colcon-common-extensions 'setuptools<80')

say() { echo "[setup_ros] $*"; }
die() { echo "[setup_ros] ERROR: $*" >&2; exit 1; }

# phase NAME CMD...: run CMD with its output in $logs/NAME.log, print the time taken; on
# failure print the end of the log and stop.
phase() {
  local name=$1; shift
  local log=$logs/$name.log start=$SECONDS rc=0
  say "$name ..."
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "----- last 60 lines of $log -----" >&2
    tail -n 60 "$log" >&2
    echo "-----" >&2
    die "phase '$name' failed (exit $rc); full log: $log"
  fi
  say "$name: $((SECONDS - start)) s"
}

# Hash of the files under the given paths (relative to the repo), names included.
tree_hash() {
  local p present=()
  for p in "$@"; do [ -e "$root/$p" ] && present+=("$p"); done
  (cd "$root" && find "${present[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
    | sort -z | xargs -0 -r sha256sum) | sha256sum | cut -c1-16
}

total_start=$SECONDS
mkdir -p "$logs"
rm -f "$out/python"  # written back only when every step below has succeeded

for tool in cmake cc c++; do
  command -v "$tool" >/dev/null \
    || die "'$tool' not found: install cmake and a C/C++ compiler (Debian: cmake build-essential)"
done

# ---- 1. the venv and the wheels ---------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  phase create-venv "${PYTHON:-python3}" -m venv "$venv"
fi
py=$venv/bin/python
pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
  || die "$py does not run"
[ "$pyver" = "3.11" ] || die "$venv has Python $pyver; the ROS 2 Kilted wheels need CPython 3.11"

install_stamp=$venv/.avs-setup-ros
if [ -f "$install_stamp" ] && [ "$(cat "$install_stamp")" = "$self_hash" ]; then
  say "ROS wheels already installed in $venv"
else
  phase pip-install "$py" -m pip install --disable-pip-version-check \
    "${ROS_RUNTIME[@]}" "${ROS_BUILD[@]}" "${PY_BUILD[@]}"
  echo "$self_hash" >"$install_stamp"
fi

# ---- 1b. the ROS 2 launch system, where its wheels are available ------------------------
# Pure-Python dependencies of the launch wheels (ros2cli of Humble also imports netifaces).
LAUNCH_DEPS=('osrf-pycommon==2.0.2' 'psutil>=5.9' 'netifaces==0.11.0')
launch_src=$(realpath -m "${AVS_ROS2_LAUNCH:-$root/../shared/ros2_launch}")
launch_key=""
if [ -d "$launch_src/wheels" ] && [ -d "$launch_src/humble" ] \
    && [ -d "$launch_src/composition_interfaces" ]; then
  launch_key="$self_hash $(cd "$launch_src" && sha256sum wheels/*.whl humble/*.whl | sha256sum | cut -c1-16)"
  launch_stamp=$venv/.avs-ros2-launch
  if [ -f "$launch_stamp" ] && [ "$(cat "$launch_stamp")" = "$launch_key" ] \
      && [ -d "$out/launch_humble/launch" ]; then
    say "ROS 2 launch wheels already installed"
  else
    install_launch() {
      "$py" -m pip install --disable-pip-version-check "${LAUNCH_DEPS[@]}" &&
      "$py" -m pip install --disable-pip-version-check --no-deps --force-reinstall \
        "$launch_src"/wheels/*.whl &&
      rm -rf "$out/launch_humble" &&
      "$py" -m pip install --disable-pip-version-check --no-deps --target "$out/launch_humble" \
        "$launch_src"/humble/*.whl
    }
    phase pip-install-launch install_launch
    echo "$launch_key" >"$launch_stamp"
  fi
else
  say "no ROS 2 launch wheels in $launch_src: the ros2 launch tests will skip"
fi

# ---- 2. include paths of the wheels' exported CMake targets -----------------------------
# The wheels' *Export.cmake files name the include folders of the machine that built them
# (/opt/python/cp311-cp311/...), and CMake refuses a target whose include folder is missing.
# Rewrite them to this interpreter's headers and this venv's NumPy headers. Done in the venv
# (not with symlinks under /opt): no root needed, nothing shared between venvs (each gets its
# own NumPy headers), and it is redone whenever pip restores a file, because it runs every
# time (a grep over share/, well under a second).
py_inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_inc=$("$py" -c 'import numpy; print(numpy.get_include())') \
  || die "numpy is not importable in $venv"
[ -f "$py_inc/Python.h" ] \
  || die "no Python.h in $py_inc: install the interpreter's headers (Debian: python3-dev)"
[ -f "$np_inc/numpy/ndarrayobject.h" ] || die "no NumPy headers in $np_inc"
patch_exports() {
  local files
  mapfile -t files < <(grep -rlE --include='*.cmake' '/opt/python/cp3' "$venv/share" || true)
  if [ "${#files[@]}" -gt 0 ]; then
    sed -i -E \
      -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+t?/include/python3\.[0-9]+t?#$py_inc#g" \
      -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+t?/lib/python3\.[0-9]+t?/site-packages/numpy/_?core/include#$np_inc#g" \
      "${files[@]}"
  fi
  echo "patched ${#files[@]} files"
  if grep -rlE --include='*.cmake' '/opt/python/' "$venv/share"; then
    echo "paths under /opt/python/ remain in the files above" >&2
    return 1
  fi
}
phase patch-cmake-exports patch_exports

# ---- 3. colcon builds -------------------------------------------------------------------
export PATH="$venv/bin:$PATH"
export CMAKE_PREFIX_PATH="$venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export MAKEFLAGS="-j$jobs"
# A venv made anew at the same path gets a new pyvenv.cfg, hence a new key and a rebuild.
build_key_base="$self_hash $venv $(stat -c %Y "$venv/pyvenv.cfg")"

# colcon_build NAME WORKSPACE SOURCE PATHS...: build the package in SOURCE into WORKSPACE
# (build/, install/, log/) unless the stamp says the same sources were built already.
colcon_build() {
  local name=$1 ws=$2 src=$3; shift 3
  local key stamp=$ws/.stamp
  key="$build_key_base $(tree_hash "$@")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && [ -f "$ws/install/setup.sh" ]; then
    say "$name is up to date"
    return 0
  fi
  rm -f "$stamp"
  # Another version of this script may have configured the workspace differently (source
  # folder, options): start it afresh then.
  if [ "$(cat "$ws/.script" 2>/dev/null)" != "$self_hash" ]; then
    rm -rf "$ws/build" "$ws/install" "$ws/log"
  fi
  mkdir -p "$ws"
  echo "$self_hash" >"$ws/.script"
  # --paths names the one package: a recursive crawl of the repo would find the venv's
  # share/*/package.xml and both fixtures (same package name).
  phase "$name" colcon --log-base "$ws/log" build \
    --paths "$src" --build-base "$ws/build" --install-base "$ws/install" --merge-install \
    --event-handlers console_cohesion+ summary+ \
    --cmake-args -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release
  echo "$key" >"$stamp"
}

# avs_ros is built from a copy of its sources in build/ros/src/avs_ros, not from the repo
# root: rosidl exports the NumPy include folder of the venv in the package's CMake targets,
# and CMake refuses to export a folder inside the source tree, which the default venv
# (.venv in the repo) is.
pkg_paths=(package.xml CMakeLists.txt msg bin avs_ros avs_models launch config rviz)
stage_sources() {
  local p present=()
  for p in "${pkg_paths[@]}"; do [ -e "$root/$p" ] && present+=("$p"); done
  rm -rf "$out/src/avs_ros"
  mkdir -p "$out/src/avs_ros"
  tar -C "$root" -cf - --exclude=__pycache__ --exclude='*.pyc' "${present[@]}" \
    | tar -C "$out/src/avs_ros" -xf -
}
stage_sources
# The three workspaces are independent: build them at the same time, so that their serial
# parts (CMake configure, the Python code generators) overlap. Each job stops the script
# (after printing the end of its log) if it fails.
fx=test/fixtures/ros
pids=()
colcon_build build-avs_ros "$out" "$out/src/avs_ros" "${pkg_paths[@]}" &
pids+=($!)
colcon_build build-fixture-ros_drivers "$out/fixtures/ros_drivers" \
  "$root/$fx/audio_common_msgs_ros_drivers" "$fx/audio_common_msgs_ros_drivers" &
pids+=($!)
colcon_build build-fixture-mgonzs13 "$out/fixtures/mgonzs13" \
  "$root/$fx/audio_common_msgs_mgonzs13" "$fx/audio_common_msgs_mgonzs13" &
pids+=($!)
if [ -n "$launch_key" ]; then
  colcon_build build-composition_interfaces "$out/ros2_launch" \
    "$launch_src/composition_interfaces" \
    "$(realpath -m --relative-to="$root" "$launch_src/composition_interfaces")" &
  pids+=($!)
fi
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" -eq 0 ] || die "a colcon build failed (see above)"

echo "$py" >"$out/python"
say "done in $((SECONDS - total_start)) s; install spaces under $out"

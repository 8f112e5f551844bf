# The two commands README promises. Each sets itself up first (scripts/bootstrap.sh).
VENV ?= .venv
export AVS_VENV := $(abspath $(VENV))

.PHONY: demo test setup setup-test

demo: setup
	$(VENV)/bin/avs demo

# ROS 2 Kilted from PyPI wheels + colcon build of our package (scripts/setup_ros.sh), and
# PulseAudio + PyAudio for the microphone test (scripts/setup_audio.sh);
# AVS_REQUIRE_ROS=1 makes the ROS tests fail, not skip, when that build is missing.
test: setup-test
	scripts/setup_ros.sh
	scripts/setup_audio.sh
	AVS_REQUIRE_ROS=1 $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

setup:
	scripts/bootstrap.sh onnx,train,replay

setup-test:
	scripts/bootstrap.sh onnx,train,replay,test

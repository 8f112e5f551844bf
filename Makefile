# The two commands README promises. Each sets itself up first (scripts/bootstrap.sh).
VENV ?= .venv
export AVS_VENV := $(abspath $(VENV))

.PHONY: demo test setup setup-test

demo: setup
	$(VENV)/bin/avs summary

test: setup-test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

setup:
	scripts/bootstrap.sh onnx,train

setup-test:
	scripts/bootstrap.sh onnx,train,test

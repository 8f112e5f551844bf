"""ONNX Runtime backend: CPU execution provider with explicit threads; CUDA and TensorRT
execution providers (onnxruntime-gpu) with I/O binding and an on-disk TensorRT engine cache."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import AVSInputError, BackendUnavailable
from .base import Backend

log = logging.getLogger(__name__)

#: provider names accepted by ``provider=`` -> ONNX Runtime execution providers
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}
_GPU_HINT = ("install onnxruntime-gpu (pip uninstall onnxruntime && pip install onnxruntime-gpu) "
             "with the CUDA/cuDNN libraries it was built for")
_TRT_HINT = ("install TensorRT (pip install tensorrt) matching onnxruntime-gpu's build, "
             "or use provider 'cuda'")


def available_providers() -> list[str]:
    """ONNX Runtime's execution providers in this environment ([] without onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def default_trt_cache() -> Path:
    """Where TensorRT engines are cached: ``$XDG_CACHE_HOME/avs_ros/trt`` (~/.cache/...)."""
    from ..onnx_cache import cache_root

    return cache_root() / "trt"


class OnnxRuntimeBackend(Backend):
    """Runs an ONNX file written by :func:`avs_models.export.export_onnx`.

    Args:
        path: the .onnx file (its metadata gives image size and classes).
        device: "cpu" or "cuda" / "cuda:N".
        threads: intra-op threads of the session (inter-op is 1: one frame at a time);
            None lets ONNX Runtime use one per physical core.
        provider: "cpu", "cuda" or "tensorrt"; default "cpu" on CPU and "cuda" on CUDA.
            With "tensorrt" the CUDA provider is listed after it, so that nodes TensorRT
            cannot take run on CUDA (ONNX Runtime's partitioning; the whole graph never
            falls back to CPU silently: a session without the requested provider raises).
        trt_cache: directory of the TensorRT engine cache (``trt_engine_cache_enable``);
            default :func:`default_trt_cache`. The first session builds the engine (minutes),
            later ones load it.
        trt_fp16: let TensorRT pick fp16 kernels (``trt_fp16_enable``).
        io_binding: bind inputs and output once to buffers on the device (default: on CUDA
            only): ``infer`` copies the two inputs in, runs, and copies the logits out, with
            no per-call allocation or host round trip inside the session. On CPU it only
            exists so that the binding code can be tested without a GPU.
        spin_wait: let idle intra-op threads spin-wait for the next run (ONNX Runtime's
            default, lowest model-only latency); False makes them sleep
            (``session.intra_op.allow_spinning = 0``), which frees the cores for the rest of
            a frame's work on a small CPU (the node and replay use False).

    Raises:
        BackendUnavailable: onnxruntime missing, the device/provider combination invalid, or
            the provider absent from this onnxruntime build (the message says what to install).
        FileNotFoundError: ``path`` does not exist.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None, *,
                 provider: str | None = None, trt_cache: str | Path | None = None,
                 trt_fp16: bool = False, io_binding: bool | None = None,
                 spin_wait: bool = True) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable(
                "backend 'onnxruntime' needs the onnxruntime package: pip install 'avs_ros[onnx]'"
            ) from exc
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model {path} does not exist (export it with avs export)")
        kind = device.split(":")[0]
        if kind not in ("cpu", "cuda"):
            raise BackendUnavailable(f"device must be cpu or cuda[:N], got {device!r}")
        provider = provider or kind
        if provider not in PROVIDERS:
            raise BackendUnavailable(f"provider must be one of {tuple(PROVIDERS)}, "
                                     f"got {provider!r}")
        if (provider == "cpu") != (kind == "cpu"):
            raise BackendUnavailable(f"provider {provider!r} does not run on device {device!r}")
        wanted = PROVIDERS[provider]
        if wanted not in ort.get_available_providers():
            hint = {"cuda": _GPU_HINT, "tensorrt": _TRT_HINT}.get(provider, "")
            raise BackendUnavailable(
                f"onnxruntime {ort.__version__} has no {wanted} (available: "
                f"{ort.get_available_providers()}); {hint}")
        device_id = int(device.split(":")[1]) if ":" in device else 0
        providers: list = [wanted] if provider == "cpu" else []
        if provider == "tensorrt":
            cache = Path(trt_cache) if trt_cache else default_trt_cache()
            cache.mkdir(parents=True, exist_ok=True)
            providers.append((wanted, {"device_id": device_id, "trt_engine_cache_enable": True,
                                       "trt_engine_cache_path": str(cache),
                                       "trt_fp16_enable": bool(trt_fp16)}))
            self.trt_cache = cache
        if kind == "cuda":
            providers.append(("CUDAExecutionProvider", {"device_id": device_id}))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = threads
        if not spin_wait:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        # ONNX Runtime only warns when a provider fails to initialise (missing CUDA libraries)
        # and runs on CPU instead: refuse that here.
        if wanted not in self.session.get_providers():
            raise BackendUnavailable(
                f"onnxruntime could not start {wanted} (session providers: "
                f"{self.session.get_providers()}); check the CUDA/cuDNN/TensorRT libraries; "
                + {"cuda": _GPU_HINT, "tensorrt": _TRT_HINT}.get(provider, ""))
        self.device = device
        self.provider = provider
        self.threads = threads
        meta = self.session.get_modelmeta().custom_metadata_map
        shape = self.session.get_inputs()[0].shape
        self.image_size = tuple(json.loads(meta["image_size"])) if "image_size" in meta \
            else (int(shape[2]), int(shape[3]))
        self.num_classes = int(meta.get("num_classes", 1))
        #: the input contract ``avs export`` stored (dict, audio front end included); None
        self.input_contract = json.loads(meta["input_contract"]) \
            if "input_contract" in meta else None
        #: the class names ``avs export`` stored (list[str]), None when it stored none
        self.class_names = json.loads(meta.get("class_names", "null"))
        bind = kind == "cuda" if io_binding is None else io_binding
        self._binding = self._bind(ort, kind, device_id) if bind else None
        self._bound_on_cpu = kind == "cpu"
        log.info("onnxruntime backend: %s on %s, providers %s", path.name, device,
                 self.session.get_providers())

    def _bind(self, ort, kind: str, device_id: int):
        """Buffers on ``kind`` for image, audio and logits bound once (static batch-1 shapes)."""
        h, w = self.image_size
        out_shape = [int(d) if isinstance(d, int) else 1
                     for d in self.session.get_outputs()[0].shape]
        out_shape[-2:] = [h, w]
        out_shape[1] = self.num_classes
        shapes = {"image": (1, 3, h, w),
                  "audio": tuple(int(d) for d in self.session.get_inputs()[1].shape)}
        self._device_inputs = {
            name: ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, kind, device_id)
            for name, shape in shapes.items()}
        self._device_out = ort.OrtValue.ortvalue_from_shape_and_type(
            tuple(out_shape), np.float32, kind, device_id)
        binding = self.session.io_binding()
        for name, value in self._device_inputs.items():
            binding.bind_ortvalue_input(name, value)
        binding.bind_ortvalue_output("logits", self._device_out)
        return binding

    def _infer(self, image: np.ndarray, audio: np.ndarray) -> np.ndarray:
        if self._binding is None:
            return self.session.run(["logits"], {"image": image, "audio": audio})[0]
        expected = tuple(tuple(v.shape()) for v in self._device_inputs.values())
        if (image.shape, audio.shape) != expected:
            raise AVSInputError(f"inputs bound as image/audio {expected}, got "
                                f"{(image.shape, audio.shape)}")
        self._device_inputs["image"].update_inplace(image)
        self._device_inputs["audio"].update_inplace(audio)
        self.session.run_with_iobinding(self._binding)
        out = self._device_out.numpy()
        # a CPU OrtValue's numpy() is a view of the bound buffer, which the next call
        # overwrites; from CUDA it is already a fresh host copy
        return out.copy() if self._bound_on_cpu else out

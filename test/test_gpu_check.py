"""scripts/gpu_check.sh --dry-run: the GPU script's every step on the CPU, so that it cannot rot
between the rare runs on a GPU (tiny counts; no timing assertions)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gpu_check_dry_run_runs_every_step(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=880,
                          env={**os.environ, "PYTHON": sys.executable, "AVS_WHEELS": "/none"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = tmp_path.glob("gpu-*-dry-run.json")
    report = json.loads(path.read_text())
    assert report["dry_run"] and report["device"] == "cpu" and report["machine"]["torch"]
    # 1. the CUDA-marked tests ran (and skipped here, without a GPU)
    tests = report["tests"]["tests"]
    assert report["tests"]["returncode"] == 0 and len(tests) >= 8
    assert {t["outcome"] for t in tests} == {"skipped"}
    assert any("test_torch_cuda_agrees" in t["test"] for t in tests)
    # 2. every preset timed; compile recorded as skipped with its reason; a profile
    cells = report["bench"]["cells"]
    timed = {c["preset"] for c in cells if "median_ms" in c and c["mode"] == "fp32"}
    assert timed == {"lightavseg_t", "avesformer_r18", "avsegformer_r50"}   # one per family
    assert all(c["gflops"] > 0 for c in cells if "median_ms" in c)
    compiled = [c for c in cells if c["mode"] == "fp16+graphs+compile"]
    assert len(compiled) == 3 and all("dry run" in c["skipped"] for c in compiled)
    (prof,) = report["bench"]["profiles"]
    assert prof["profile"]["top_ops"] and prof["profile"]["frames"] == 2
    # 3. replay: the four pipeline stages, per frame
    for run in report["replay"]:
        assert run["returncode"] == 0 and run["frames"]["processed"] > 0
        assert set(run["stages"]) == {"preprocess", "logmel", "inference", "postprocess"}
    # 4. training throughput
    for run in report["train"]:
        assert run["returncode"] == 0 and run["steps"] == 7 and run["images_per_s"] > 0
    # 5. the README table
    assert "| `avesformer_r18` |" in proc.stdout and "images/s" in proc.stdout

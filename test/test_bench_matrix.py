"""avs bench --matrix: cells, derived columns, targets (behaviour only; no timing assertions)."""
import json

import pytest
import torch

from avs_ros.bench.cli import mode_name, parse_mode
from avs_ros.bench.matrix import (add_derived, check_gpu_targets, check_targets, format_gpu_table,
                                  format_table)
from avs_ros.cli import main


def _cell(preset, backend, median, device="cpu"):
    return {"preset": preset, "backend": backend, "device": device, "median_ms": median,
            "p90_ms": median * 1.1, "fps": 1000 / median, "peak_rss_mb": 100.0}


def test_derived_columns_are_per_backend_and_device():
    cells = [_cell("lightavseg_t", "torch", 20.0), _cell("avsegformer_r50", "torch", 600.0),
             _cell("lightavseg_t", "onnxruntime", 10.0),
             _cell("avsegformer_r50", "onnxruntime", 400.0),
             _cell("lightavseg_t", "torch", 2.0, "cuda"),
             {"preset": "avsegformer_r50", "backend": "torch", "device": "cuda", "error": "x"}]
    add_derived(cells, {"lightavseg_t": 2.7, "avsegformer_r50": 81.0}, 270.0)
    assert cells[0]["floor_ms"] == pytest.approx(10.0)          # 2.7 GFLOPs / 270 GFLOP/s
    assert cells[1]["floor_ms"] == pytest.approx(300.0)
    assert cells[0]["speedup_vs_baseline"] == pytest.approx(30.0)
    assert cells[2]["speedup_vs_baseline"] == pytest.approx(40.0)   # 400 / 10, not 600 / 10
    assert cells[4]["floor_ms"] is None and cells[4]["speedup_vs_baseline"] is None
    table = format_table(cells, 270.0)
    assert "error: x" in table and "30.00" in table and "40.00" in table


def test_targets_use_the_best_cpu_cell_and_the_baseline_anchor():
    cells = [_cell("lightavseg_t", "torch", 20.0), _cell("lightavseg_t", "onnxruntime", 15.0),
             _cell("avesformer_r50", "torch", 100.0), _cell("avsegformer_r50", "torch", 900.0)]
    add_derived(cells, {}, 270.0)
    got = {t["what"]: t for t in check_targets(cells)}
    t = got["lightavseg_t FPS (onnxruntime/cpu)"]
    assert t["value"] == pytest.approx(1000 / 15) and t["met"]
    assert got["avesformer_r50 speed-up vs avsegformer_r50 (torch/cpu)"]["met"]    # 9x
    anchor = got["avsegformer_r50 torch/cpu ms (PERF.md 600-650 +-30 %)"]
    assert anchor["value"] == 900.0 and not anchor["met"]                        # > 845 ms


@pytest.mark.slow
def test_matrix_runs_cells_in_processes_and_keeps_failures(tmp_path, capsys):
    out = tmp_path / "results.json"
    devices = ["cpu"] if torch.cuda.is_available() else ["cpu", "cuda"]
    code = main(["bench", "--matrix", "--presets", "lightavseg_t", "--backends", "torch",
                 "--devices", *devices, "--image-size", "64", "64", "--runs", "1",
                 "--warmup", "0", "--threads", "1", "--out", str(out)])
    report = json.loads(out.read_text())
    cells = {(c["preset"], c["device"]): c for c in report["cells"]}
    assert set(cells) == {(p, d) for p in ("lightavseg_t", "avsegformer_r50") for d in devices}
    ok = cells["lightavseg_t", "cpu"]
    assert ok["runs"] == 1 and ok["image_size"] == [64, 64] and ok["peak_rss_mb"] > 0
    assert ok["speedup_vs_baseline"] == pytest.approx(
        cells["avsegformer_r50", "cpu"]["median_ms"] / ok["median_ms"])
    assert ok["floor_ms"] == pytest.approx(ok["gflops"] / 135.0 * 1e3)   # 270 x 1/2 threads
    assert cells["avsegformer_r50", "cpu"]["gflops"] > ok["gflops"] > 0
    if "cuda" in devices:
        assert code == 1 and "no CUDA device" in cells["lightavseg_t", "cuda"]["error"]
    else:
        assert code == 0
    assert "avsegformer_r50" in capsys.readouterr().out


def test_single_cell_auto_reports_what_it_chose(capsys):
    assert main(["bench", "--preset", "lightavseg_t", "--backend", "auto", "--image-size",
                 "64", "64", "--runs", "1", "--warmup", "0", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "onnxruntime" and result["device"] == "cpu"
    assert result["options"] == {"provider": "cpu"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_single_cell_unavailable_device_exits_with_the_reason(capsys):
    assert main(["bench", "--preset", "lightavseg_t", "--device", "cuda", "--image-size",
                 "64", "64", "--runs", "1"]) == 3
    assert "no CUDA device" in capsys.readouterr().err


def test_torch_modes_parse_and_reject_unknown_flags():
    assert parse_mode("fp16+graphs") == {"dtype": "fp16", "cuda_graphs": True,
                                         "compile": False}
    assert mode_name(parse_mode("bf16+graphs+compile")) == "bf16+graphs+compile"
    for bad in ("fp8", "fp16+graph", "fp32+compile+compile"):
        with pytest.raises(ValueError, match="DTYPE"):
            parse_mode(bad)


def test_gpu_targets_and_table_use_the_best_mode_of_each_preset():
    def cuda(preset, mode, median):
        return {**_cell(preset, "torch", median, "cuda"), "mode": mode, "peak_gpu_mb": 500.0}

    cells = [cuda("avesformer_r18", "fp32", 6.0), cuda("avesformer_r18", "fp16+graphs", 2.0),
             cuda("avesformer_r50", "fp16", 5.0), cuda("avesformer_r50", "fp16+graphs", 3.0),
             cuda("avsegformer_r50", "fp16", 8.0), cuda("avsegformer_r50", "fp32", 12.0),
             {"preset": "lightavseg_t", "backend": "torch", "device": "cuda",
              "mode": "fp16+graphs+compile", "skipped": "time budget"},
             _cell("lightavseg_t", "torch", 20.0)]                # CPU: not a GPU target
    add_derived(cells, {"avesformer_r18": 65.2}, 270.0)
    got = {t["preset"]: t for t in check_gpu_targets(cells)
           if t["what"].endswith("/cuda)")}
    assert got["avesformer_r18"]["met"] and got["avesformer_r18"]["mode"] == "fp16+graphs"
    assert got["avesformer_r50"]["value"] == 3.0 and got["avesformer_r50"]["met"]
    assert "lightavseg_t" not in got                                   # no CUDA timing
    ratio = [t for t in check_gpu_targets(cells) if "/ avesformer_r50" in t["what"]][0]
    assert ratio["value"] == pytest.approx(8.0 / 3.0) and not ratio["met"]   # < 3x
    table = format_gpu_table(cells, ["fp32", "fp16", "fp16+graphs", "fp16+graphs+compile"])
    r18 = next(ln for ln in table.splitlines() if "`avesformer_r18`" in ln)
    assert "2.00 (2.20)" in r18 and "fp16+graphs" in r18 and "65.20" in r18 and "4.00" in r18
    assert "skipped" in next(ln for ln in table.splitlines() if "`lightavseg_t`" in ln)

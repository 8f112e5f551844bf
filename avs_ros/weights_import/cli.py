"""``avs import PATH --out OUT``: a downloaded weight file -> what our tools load.

- a public AVSegFormer checkpoint -> an ``avs_ros/1`` checkpoint (preset, classes, input
  contract, AVSS class names, and under ``source`` the file's name, size, SHA-256 and the
  README's J/F for it) that ``avs replay``, ``avs eval``, ``avs export`` and ``avs_node``
  load like ours;
- an encoder file -> ``{"format": "avs_ros/weights-1", "kind", "source", "state_dict"}``
  holding exactly our module's tensors, for ``model.backbone_weights`` /
  ``model.audio_weights`` of a training config (loaded strictly by the same functions).

The result is written beside OUT, read back the way our tools read it, compared tensor by
tensor, and only then renamed to OUT: a refused or failed import leaves no file. Exit
status 0 on success, 2 when the file is refused (the message says what it looks like and
which file was expected).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from avs_models.checkpoints import file_sha256

from .recognise import (AVSEGFORMER_PUBLISHED, Found, ImportRefused, check_loadable,
                        check_name_hash, recognise)

WEIGHTS_FORMAT = "avs_ros/weights-1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``avs import``."""
    parser.add_argument("path", help="the downloaded file (.pth/.pt)")
    parser.add_argument("--out", required=True, help="file to write (.pt)")
    parser.add_argument("--subset", choices=("s4", "ms3", "avss"),
                        help="AVSegFormer only: which subset the checkpoint was trained on "
                        "(S4 and MS3 files look alike; AVSS is recognised by its 71 classes)")
    parser.add_argument("--json", action="store_true", help="print what was found as JSON")


def _subset(found: Found, given: str | None) -> str | None:
    if found.variant is None:
        if given:
            raise ImportRefused(f"--subset applies to AVSegFormer checkpoints, not to "
                                f"{found.description}")
        return None
    c = found.variant["num_classes"]
    if given and (given == "avss") != (c == 71):
        raise ImportRefused(f"--subset {given} does not fit a checkpoint with {c} output "
                            "class(es) (S4/MS3: 1, AVSS: 71)")
    return given or ("avss" if c == 71 else None)


def _write(found: Found, out: Path, source: dict) -> None:
    """Write ``found`` to ``out`` in our format (AVSegFormer: avs_ros/1; encoder: weights-1)."""
    if found.encoder is None:
        from avs_models.checkpoints import save_checkpoint
        from avs_models.data.avss_palette import AVSS_CLASSES

        c = found.variant["num_classes"]
        names = list(AVSS_CLASSES) if c == len(AVSS_CLASSES) else \
            ["background", "sounding"] if c == 1 else None
        save_checkpoint(found.module, out, class_names=names, source=source)
        return
    state = {k: v.detach().clone().contiguous() for k, v in found.module.state_dict().items()}
    torch.save({"format": WEIGHTS_FORMAT, "kind": found.kind, "source": source,
                "state_dict": state}, out)


def import_file(path: str | Path, out: str | Path, subset: str | None = None) -> dict:
    """Recognise ``path``, convert it, write ``out`` (only on success) and return a report.

    Returns: dict with file, bytes, sha256, kind, description, tensors, unused (prefix ->
        count), out; for AVSegFormer also preset, num_classes, subset, published; for
        encoders config_key and presets.
    Raises: ImportRefused (nothing written).
    """
    path, out = Path(path), Path(out)
    found = recognise(path)
    subset = _subset(found, subset)
    sha = file_sha256(path)
    check_name_hash(path, sha)
    report = {"file": path.name, "bytes": path.stat().st_size, "sha256": sha,
              "kind": found.kind, "description": found.description, "tensors": found.tensors,
              "unused": found.unused}
    source = {k: report[k] for k in ("file", "bytes", "sha256", "kind", "description")}
    if found.variant is not None:
        preset = found.variant["preset"]
        published = AVSEGFORMER_PUBLISHED.get((preset, subset))
        report.update(preset=preset, num_classes=found.variant["num_classes"], subset=subset,
                      published=None if published is None else
                      {"J": published[0], "F": published[1], "where": "AVSegFormer README"})
        source.update(subset=subset, published=report["published"], unused=found.unused)
    else:
        report.update(config_key=found.encoder.config_key, presets=list(found.encoder.presets),
                      unused_what=found.encoder.extra_what)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        _write(found, partial, source)
        check_loadable(found, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    report["out"] = str(out)
    return report


def _print(report: dict) -> None:
    r = report
    print(f"avs import: {r['file']} ({r['bytes'] / 1e6:.1f} MB, sha256 {r['sha256'][:16]}...)")
    unused = ", ".join(f"{k} ({n})" for k, n in r["unused"].items())
    print(f"  found: {r['description']}; {r['tensors']} tensors"
          + (f", {sum(r['unused'].values())} not needed: {unused}"
             + (f" - {r['unused_what']}" if r.get("unused_what") else "") if unused else ""))
    out = r["out"]
    if r["kind"] == "avsegformer":
        p = r["preset"]
        pub = r["published"]
        print(f"  wrote: {out} (avs_ros/1, preset {p}, {r['num_classes']} class(es), mixer "
              f"F * w as published; subset {r['subset'] or 'not given (--subset s4|ms3)'}"
              + (f"; README: J {pub['J']}, F {pub['F']}" if pub else "") + ")")
        print(f"  use:   avs replay BAG --checkpoint {out}\n"
              f"         avs eval --config CONFIG --checkpoint {out}\n"
              f"         avs export --checkpoint {out} --out {Path(out).stem}.onnx\n"
              f"         ros2 launch avs_ros avs.launch.py preset:={p} checkpoint:={out}")
    else:
        print(f"  wrote: {out} (our {r['kind']} tensors only; loads strictly)")
        print(f"  use:   model.{r['config_key']}: {out}   "
              f"(training configs of {', '.join(r['presets'])})")


def run(args: argparse.Namespace) -> int:
    """The verb: 0 on success, 2 when the file is refused."""
    try:
        report = import_file(args.path, args.out, args.subset)
    except ImportRefused as exc:
        print(f"avs import: refused: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print(report)
    return 0

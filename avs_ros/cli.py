"""The ``avs`` command: one verb per job, each implemented in its own module.

A command module provides ``add_arguments(parser)`` and ``run(args) -> int``; it is imported
only when its verb is used, so ``avs summary`` does not pay for ROS or ONNX imports.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import sys

# verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("avs_ros.commands.summary", "parameters (ours vs paper) and GFLOPs per preset"),
    "export": ("avs_ros.commands.export", "export a preset or checkpoint to ONNX"),
    "bench": ("avs_ros.bench.cli", "model-only latency at batch 1 (median/p90 ms, FPS, peak RSS)"),
    "synth": ("avs_models.data.synth.cli",
              "write a SynthAVS dataset in an AVSBench layout (S4, MS3, AVSS)"),
    "bag": ("avs_ros.bag.cli", "write a ROS 2 bag from a SynthAVS stream or an AVSBench split"),
    "replay": ("avs_ros.replay.cli",
               "replay a ROS 2 bag through the node's pipeline: J/F, latency, video, report"),
    "demo": ("avs_ros.demo", "one command: demo bag -> replay -> J, F, FPS, report and video"),
    "node-bench": ("avs_ros.node_bench", "avs_node end-to-end latency and overhead (needs ROS 2)"),
    "pretrain": ("avs_models.train.pretrain",
                 "SynthAVS encoder pretraining (stand-in for ImageNet/AudioSet weights)"),
    "train": ("avs_models.train.cli", "train a preset from a YAML config (DDP under torchrun)"),
    "interpolate": ("avs_models.train.interpolate",
                    "WiSE-FT: (1 - alpha) x a checkpoint + alpha x its fine-tuned version"),
    "eval": ("avs_models.train.evaluate",
             "J/F of a checkpoint on a split, with true and shuffled audio"),
    "import": ("avs_ros.weights_import.cli",
               "a downloaded AVSegFormer checkpoint or encoder file -> what our tools load"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: avs <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'avs <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``avs`` console script. Returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in COMMANDS:
        close = difflib.get_close_matches(verb, COMMANDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        print(f"avs: unknown command '{verb}'{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[verb]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"avs {verb}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

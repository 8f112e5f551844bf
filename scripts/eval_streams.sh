#!/usr/bin/env bash
# Held-out stream evaluation (issue 13): write 40 s SynthAVS stream bags of seeds the
# training never used (101-104 plain; 201-202 with an off-screen source and exits), replay
# each with a checkpoint as the node would run it, and print one row per bag plus the mean.
#   scripts/eval_streams.sh OUT_DIR [CHECKPOINT] [extra avs replay options...]
# CHECKPOINT defaults to the shipped model. Bags are reused when present in OUT_DIR/bags.
set -euo pipefail
out=${1:?usage: scripts/eval_streams.sh OUT_DIR [CHECKPOINT] [avs replay options]}
ckpt=${2:-}
shift $(( $# >= 2 ? 2 : 1 ))
avs=${AVS:-avs}
mkdir -p "$out/bags"
runs=()
for spec in plain:101 plain:102 plain:103 plain:104 hard:201 hard:202; do
  kind=${spec%%:*}; seed=${spec##*:}; bag="$out/bags/${kind}_$seed"
  extra=(); [[ $kind == hard ]] && extra=(--offscreen 1 --exits)
  [[ -d $bag ]] || "$avs" bag --source synth-stream --duration 40 --fps 15 --seed "$seed" \
      "${extra[@]}" --out "$bag" > /dev/null 2>&1
  "$avs" replay "$bag" --out "$out/${kind}_$seed" ${ckpt:+--checkpoint "$ckpt"} --threads 1 \
      --no-video --no-progress --json "$@" > /dev/null
  runs+=("$out/${kind}_$seed/metrics.json")
done
python3 - "${runs[@]}" <<'PY'
import json, sys
# silent / no_obj: frames with empty ground truth and the % of them with no object published;
# win / w_no_obj: those whose whole audio window is silent too
COLS = [("J", 6, "%"), ("F", 6, "%"), ("J_snd", 7, "%"), ("silent", 8, "n"), ("no_obj", 8, "%"),
        ("win", 6, "n"), ("w_no_obj", 9, "%"), ("flick", 7, "%"), ("flk_gt", 7, "%"),
        ("onset", 7, "ms"), ("offset", 7, "ms")]
def fmt(v, kind):
    if v is None:
        return "n/a"
    return f"{100 * v:.1f}" if kind == "%" else f"{v:.0f}" if kind == "ms" else f"{v}"
def line(name, r):
    return f"{name:<10}" + "".join(f"{fmt(v, k):>{w}}" for v, (_, w, k) in zip(r, COLS))
print(f"{'bag':<10}" + "".join(f"{c:>{w}}" for c, w, _ in COLS))
rows = []
for path in sys.argv[1:]:
    d = json.load(open(path)); m, s = d["metrics"], d["stream"]
    rows.append([m["J"], m["F"], s["J_sounding"], s["silent_frames"], s["silent_no_object"],
                 s["silent_window_frames"], s["silent_window_no_object"], s["flicker"],
                 s["flicker_gt"], s["onset"]["median_ms"], s["offset"]["median_ms"]])
    print(line(path.split("/")[-2], rows[-1]))
def mean(v):
    v = [x for x in v if x is not None]
    return sum(v) / len(v) if v else None
def pooled(counts, shares):    # share over the frames of all bags together
    total = sum(counts)
    return sum(n * p for n, p in zip(counts, shares) if p is not None) / total if total else None
for label, sel in (("plain", rows[:4]), ("hard", rows[4:])):
    col = list(zip(*sel))
    r = [mean(c) for c in col]
    for n in (3, 5):           # frame counts are summed, their shares pooled
        r[n], r[n + 1] = sum(col[n]), pooled(col[n], col[n + 1])
    print(line(f"mean {label}", r))
PY

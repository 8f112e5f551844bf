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
rows = []
# silent / no_obj: frames with empty ground truth and the % of them with no object published;
# win / w_no_obj: those whose whole audio window is silent too
print(f"{'bag':<10}{'J':>6}{'F':>6}{'J_snd':>7}{'silent':>8}{'no_obj':>8}{'win':>6}"
      f"{'w_no_obj':>9}{'flick':>7}{'flk_gt':>7}{'onset':>7}{'offset':>7}")
for path in sys.argv[1:]:
    d = json.load(open(path)); m, s = d["metrics"], d["stream"]
    r = [m["J"], m["F"], s["J_sounding"], s["silent_frames"], s["silent_no_object"],
         s["flicker"], s["flicker_gt"], s["onset"]["median_ms"], s["offset"]["median_ms"],
         s["silent_window_frames"], s["silent_window_no_object"]]
    rows.append(r)
    name = path.split("/")[-2]
    fmt = lambda v, p=True: "n/a" if v is None else (f"{100*v:.1f}" if p else f"{v:.0f}")
    print(f"{name:<10}{fmt(r[0]):>6}{fmt(r[1]):>6}{fmt(r[2]):>7}{r[3]:>8}{fmt(r[4]):>8}"
          f"{r[9]:>6}{fmt(r[10]):>9}{fmt(r[5]):>7}{fmt(r[6]):>7}{fmt(r[7], False):>7}{fmt(r[8], False):>7}")
def mean(i, sel):
    v = [r[i] for r in sel if r[i] is not None]
    return sum(v) / len(v) if v else None
for label, sel in (("plain", rows[:4]), ("hard", rows[4:])):
    def pooled(n, share):
        total = sum(r[n] for r in sel)
        return total, (sum(r[n] * r[share] for r in sel if r[share] is not None) / total
                       if total else None)
    silent, no_obj = pooled(3, 4)
    win, win_no_obj = pooled(9, 10)
    print(f"mean {label:<5}" + "".join(
        f"{'n/a' if mean(i, sel) is None else f'{100 * mean(i, sel):.1f}':>{w}}"
        for i, w in ((0, 6), (1, 6), (2, 7))) + f"{silent:>8}" +
        f"{'n/a' if no_obj is None else f'{100 * no_obj:.1f}':>8}" + f"{win:>6}" +
        f"{'n/a' if win_no_obj is None else f'{100 * win_no_obj:.1f}':>9}" + "".join(
        f"{'n/a' if mean(i, sel) is None else f'{100 * mean(i, sel):.1f}':>7}" for i in (5, 6))
        + "".join(f"{'n/a' if mean(i, sel) is None else f'{mean(i, sel):.0f}':>7}"
                  for i in (7, 8)))
PY

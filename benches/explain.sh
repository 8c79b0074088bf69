#!/usr/bin/env bash
# Explaining predictions at MOSEI size (issue 28): a synthetic set of 23,323 utterances (MOSEI's
# 16,326 train / 4,659 test at 0.7/0.2; text 50×300, vision 50×35, audio 50×74), the small
# preset trained one epoch, then in one run:
#   1. one utterance explained (attention + 2 rules × 3 modalities removed and kept alone + 4 kNN
#      queries) after the one-time index build, against one plain predict of that utterance
#      (`univa explain --bench`, in process);
#   2. the whole test split's contribution CSV (`univa explain --split test --out`, the training
#      index build included) against
#      `univa predict` on the same split (wall clock of each command, loading included).
#
#   bash benches/explain.sh              # UNIVA=target/release/univa, WORK=a temporary folder
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
univa=${UNIVA:-target/release/univa}
[ -x "$univa" ] || { echo "explain.sh: no $univa; build it (cargo build --release) or set UNIVA" >&2; exit 1; }
work=${WORK:-$(mktemp -d)}
data=$work/mosei-size
run=$work/run-small
if [ ! -f "$data/manifest.toml" ]; then
    "$univa" synth --out "$data" -n "${UTTERANCES:-23323}" --seed 7 >/dev/null
fi
if [ ! -f "$run/model.safetensors" ]; then
    "$univa" train --dataset "$data" --out "$run" --preset small --epochs 1 --quiet
fi
seconds() { local start; start=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $start" | bc; }

echo "== one utterance (after the index build)"
"$univa" explain --run "$run" --dataset "$data" --split test --bench "${BENCH_N:-200}" --k 5
echo "== the whole test split"
predict=$(seconds "$univa" predict --run "$run" --dataset "$data" --split test --out "$work/predict.csv")
explain=$(seconds "$univa" explain --run "$run" --dataset "$data" --split test --out "$work/contributions.csv")
printf 'univa predict:            %.2f s\nuniva explain --split CSV: %.2f s (%.2f× predict)\n' "$predict" "$explain" \
    "$(echo "$explain / $predict" | bc -l)"

#!/usr/bin/env bash
# Time per training epoch of the MOSEI-GloVe preset on a MOSEI-size synthetic set (16,326 train
# utterances; text 50×300, vision 50×35, audio 50×74), on each device given, in one run so the
# figures can be quoted as ratios (issue 18: GPU against CPU).
#
#   bash benches/train_epoch.sh [DEVICE…]            # default: cpu
#   UNIVA=target/release/univa LIMIT=300 bash benches/train_epoch.sh cuda:0 cpu
#
# Each device trains one epoch for at most LIMIT seconds (default 300); a device that has not
# finished the epoch by then is stopped through `--stop-file`, and its epoch time is the train
# split over the trainer's own throughput (utterances/s over the steps done). The CPU needs about
# an hour per epoch at this preset on 2 cores, so it is always the extrapolated kind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
univa=${UNIVA:-target/release/univa}
limit=${LIMIT:-300}
[ "$#" -gt 0 ] || set -- cpu
[ -x "$univa" ] || { echo "train_epoch.sh: no $univa; build it (cargo build --release [--features cuda]) or set UNIVA" >&2; exit 1; }

work=${WORK:-$(mktemp -d)}
data=$work/mosei-size
if [ ! -f "$data/manifest.toml" ]; then
    # 0.7 of 23,323 utterances is MOSEI's 16,326 train utterances (UTTERANCES: a smaller set to
    # try the script out).
    "$univa" synth --out "$data" -n "${UTTERANCES:-23323}" --seed 7 >/dev/null
fi
# A step event every step, for the throughput of runs stopped early.
printf '[train]\nlog_every = 1\n' > "$work/log-every-step.toml"

for device in "$@"; do
    run=$work/run-${device//:/-}
    rm -rf "$run" "$work/stop"
    start=$(date +%s.%N)
    "$univa" train --dataset "$data" --out "$run" --preset mosei-glove --config "$work/log-every-step.toml" --epochs 1 --device "$device" \
        --events "$work/events-$device.jsonl" --stop-file "$work/stop" --quiet &
    pid=$!
    ( sleep "$limit"; touch "$work/stop" ) &
    timer=$!
    # Stopped by the timer, the trainer exits non-zero on purpose.
    if ! wait "$pid" && [ ! -e "$work/stop" ]; then
        echo "train_epoch.sh: training on $device failed" >&2
        kill "$timer" 2>/dev/null
        exit 1
    fi
    kill "$timer" 2>/dev/null || true
    end=$(date +%s.%N)
    python3 - "$work/events-$device.jsonl" "$device" "$start" "$end" "$data/utterances.csv" <<'PY'
import csv, json, sys
path, device, start, end, table = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
events = [json.loads(line) for line in open(path) if line.strip()]
started = next(e for e in events if e["event"] == "started")
steps = [e for e in events if e["event"] == "step"]
epoch = next((e for e in events if e["event"] == "epoch"), None)
train = sum(1 for row in csv.DictReader(open(table)) if row["split"] == "train")
if epoch is not None:
    print(f"{device}: one epoch of {train} utterances in {epoch['seconds']:.1f} s measured "
          f"({started['steps_per_epoch']} steps; wall time with start-up and validation {end - start:.1f} s)")
elif steps:
    rate = steps[-1]["samples_per_sec"]
    print(f"{device}: {rate:.1f} utterances/s over {len(steps)} of {started['steps_per_epoch']} steps; "
          f"one epoch of {train} ≈ {train / rate:.0f} s (extrapolated)")
else:
    sys.exit(f"{device}: no step finished within the limit")
PY
done

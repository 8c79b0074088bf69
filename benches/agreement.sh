#!/usr/bin/env bash
# `univa agreement` on a large ratings file (issue 32 item 17): a synthetic CSV of ROWS ratings
# (default 5,000,000, about 200 MB: units × 6 raters, each rating present with probability 0.83,
# shuffled so a unit's ratings are spread over the file), then peak memory (max RSS) and wall
# clock of `univa agreement` without and with --rater, for each binary given. Compare the
# binaries in the same run:
#
#   bash benches/agreement.sh target/release/univa /tmp/univa-before
#   ROWS=1000000 WORK=/tmp/agree bash benches/agreement.sh target/debug/univa
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 1 ] || set -- target/release/univa
work=${WORK:-$(mktemp -d)}
rows=${ROWS:-5000000}
csv=$work/ratings-$rows.csv
if [ ! -f "$csv" ]; then
    python3 - "$csv" "$rows" <<'PY'
import random, sys
path, rows = sys.argv[1], int(sys.argv[2])
raters, present = 6, 0.83
rng = random.Random(7)
units = int(rows / (raters * present))
bias = [rng.uniform(-0.5, 0.5) for _ in range(raters)]
out = []
for u in range(units):
    effect = rng.uniform(-0.6, 0.6)
    for j in range(raters):
        if rng.random() < present:
            v = max(-1.0, min(1.0, effect + bias[j] * 0.3 + rng.gauss(0.0, 0.25)))
            out.append(f"utterance_{u:07d},annotator_{j:02d},{v:.6f}\n")
rng.shuffle(out)
with open(path, "w") as f:
    f.write("utterance,annotator,valence\n")
    f.writelines(out)
PY
fi
echo "== $csv: $(($(wc -l <"$csv") - 1)) ratings, $(du -m "$csv" | cut -f1) MB"
for univa in "$@"; do
    for rater in "" "--rater annotator"; do
        # shellcheck disable=SC2086
        /usr/bin/time -f "%M KB max RSS, %e s wall" "$univa" agreement --ratings "$csv" \
            --unit utterance --value valence $rater --json >"$work/out.json" 2>"$work/time.txt"
        echo "$univa ${rater:-(no rater)}: $(tail -1 "$work/time.txt")"
        cat "$work/out.json"
    done
done

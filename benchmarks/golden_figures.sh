#!/usr/bin/env bash
# Seed-0 figures of the RL, bandit and off-policy benchmarks, written to a new folder, so a refactor
# can be checked against them: "identical wherever the maths did not change" (issue 17).
#   benchmarks/golden_figures.sh OUT_DIR      # OUT_DIR must not exist yet
#   diff -r benchmarks/results/golden OUT_DIR  # after a change (timings and the device line will differ)
set -euo pipefail
out=${1:?usage: benchmarks/golden_figures.sh OUT_DIR (a new folder)}
if [ -e "$out" ]; then
    echo "$out exists; golden figures go to a new folder (nothing is overwritten). Pick another." >&2
    exit 2
fi
mkdir -p "$out"
python=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1
"$python" benchmarks/bandit_regret.py --seeds 1 > "$out/bandit_regret_seed0.txt" 2> "${TMPDIR:-/tmp}/golden_bandit_regret.log"  # progress bars
"$python" benchmarks/ope_accuracy.py --seeds 2 > "$out/ope_accuracy_seeds01.txt"  # needs 2 seeds for a spread
"$python" benchmarks/rl_long_term.py --experiments lts --algorithms ppo slateq --seeds 1 \
    --results "$out/rl_long_term_seed0.json" > "$out/rl_long_term_seed0.txt"
echo "seed-0 figures in $out"

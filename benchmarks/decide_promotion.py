"""How often each promotion rule adopts noise, and how often it adopts a real gain.

Planted seed scores: baseline ~ N(0.90, sd), candidate ~ N(0.90 + effect * sd, sd), K seeds
per arm. Rules compared side by side on the same draws:

* one run each:        promote when the candidate's single run beats the baseline's
* mean of K:           promote when the candidate's mean over K seeds is higher
* bootstrap 95%:       percentile bootstrap interval of the mean gain above 0 (2,000 resamples)
* Welch one-sided 5%:  Welch's t-test alone at 5%
* tunebook:            tunebook.analysis.promotion.seed_test (95% Welch interval above 0, gain
                       beyond seed noise, gain >= min_gain = 0)

Run: ``PYTHONPATH=src python benchmarks/decide_promotion.py [--quick]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from tunebook.analysis.promotion import seed_test


def rules(c: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> dict[str, bool]:
    gains = (rng.choice(c, (2000, c.size)).mean(1) - rng.choice(b, (2000, b.size)).mean(1))
    return {
        "one run each": bool(c[0] > b[0]),
        "mean of K": bool(c.mean() > b.mean()),
        "bootstrap 95%": bool(np.percentile(gains, 2.5) > 0),
        "Welch one-sided 5%": bool(stats.ttest_ind(c, b, equal_var=False,
                                                   alternative="greater").pvalue < 0.05),
        "tunebook": seed_test(c, b).promote,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200 cases per cell instead of 2,000")
    args = ap.parse_args()
    n = 200 if args.quick else 2000
    sd = 0.01
    t0 = time.time()
    print(f"promotion rate over {n} planted cases per cell (sd {sd})\n")
    for k in (3, 5, 10):
        print(f"K = {k} seeds per arm")
        header = None
        for effect in (0.0, 1.0, 2.0, 3.0):
            rng = np.random.default_rng(1000 * k + int(effect * 10))
            counts: dict[str, int] = {}
            for _ in range(n):
                c = rng.normal(0.90 + effect * sd, sd, k)
                b = rng.normal(0.90, sd, k)
                for name, ok in rules(c, b, rng).items():
                    counts[name] = counts.get(name, 0) + ok
            if header is None:
                header = list(counts)
                print(f"  {'gain':>10} | " + " | ".join(f"{h:>18}" for h in header))
            label = "none" if effect == 0 else f"{effect:g} sd"
            print(f"  {label:>10} | " + " | ".join(f"{counts[h] / n:>18.1%}" for h in header))
        print()
    print(f"took {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()

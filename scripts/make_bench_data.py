#!/usr/bin/env python3
"""Synthetic respondents and margins for scripts/bench-vs-r.sh.

    python3 scripts/make_bench_data.py --n 1000000 --out-dir /tmp/bench [--seed 20240]

Writes OUT_DIR/respondents.csv (id, ics, age_band, sex, ethnicity,
imd_quintile, base_weight) and OUT_DIR/margins.csv (ics, dimension, category,
population), for the 42 ICSs and 4 margins, in the order age_band, sex,
ethnicity, imd_quintile (the order joinedup rakes in, and the order the
benchmark gives R's rake()).

- age_band and sex margins: the real ONS mid-2022 adult populations in
  data/ics-population-2022.csv (bands 18-34 ... 85+).
- ethnicity (5 groups) and IMD quintile (5) margins: synthetic, invented per
  NHS region from data/ics.csv, rounded so that every margin of an ICS sums to
  the same adult total.
- respondents: synthetic. The sample is spread over ICSs in proportion to the
  square root of the adult population; each respondent's cell is drawn with
  probability population share x response propensity x invitation
  over-sampling, so the sample is skewed (older, less deprived, White people
  answer more) and raking matters. base_weight = 1 / invitation probability,
  rounded to 2 decimals.
- no missing values and no empty categories: the first 6 respondents of each
  ICS are placed so every category of every margin has a respondent, so R's
  rake() needs no collapsing.

Standard library only; deterministic for a given --n and --seed (Python's
Mersenne Twister). Rows are shuffled (arrival order), ids are 1..n.
"""

import argparse
import csv
import math
import os
import random
import sys

AGE_BANDS = ["18-34", "35-54", "55-64", "65-74", "75-84", "85+"]
SEXES = ["female", "male"]
ETHNICITIES = ["White", "Mixed", "Asian", "Black", "Other"]
IMD_Q = ["1", "2", "3", "4", "5"]  # 1 = most deprived

ETH_REGION = {  # shares of White, Mixed, Asian, Black, Other
    "London": [0.55, 0.06, 0.20, 0.13, 0.06],
    "Midlands": [0.82, 0.025, 0.11, 0.03, 0.015],
    "North West": [0.88, 0.02, 0.07, 0.015, 0.015],
    "North East and Yorkshire": [0.89, 0.02, 0.065, 0.01, 0.015],
    "East of England": [0.87, 0.03, 0.05, 0.03, 0.02],
    "South East": [0.88, 0.025, 0.06, 0.02, 0.015],
    "South West": [0.94, 0.02, 0.02, 0.01, 0.01],
}
DEP_REGION = {  # > 0: more people in deprived quintiles
    "London": 0.2, "Midlands": 0.25, "North West": 0.45, "North East and Yorkshire": 0.4,
    "East of England": -0.25, "South East": -0.45, "South West": -0.2,
}
PROP_AGE = [0.55, 0.8, 1.1, 1.45, 1.6, 1.25]  # older respond more
PROP_SEX = [1.12, 0.9]
PROP_ETH = [1.1, 0.8, 0.75, 0.7, 0.75]
PROP_IMD = [0.65, 0.8, 1.0, 1.15, 1.3]  # less deprived respond more
OVERSAMPLE_IMD = [1.5, 1.25, 1.0, 1.0, 1.0]  # deprived areas over-sampled at invitation
RESPONSE_RATE = 0.25


def round_to_total(shares, total):
    """Largest-remainder rounding of shares to integers summing exactly to total."""
    s = sum(shares)
    raw = [x / s * total for x in shares]
    out = [math.floor(x) for x in raw]
    short = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[:short]:
        out[i] += 1
    return out


def main():
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="number of respondents (default 1000000)")
    ap.add_argument("--out-dir", required=True, help="folder for respondents.csv and margins.csv")
    ap.add_argument("--seed", type=int, default=20240)
    args = ap.parse_args()

    # real adult age x sex populations
    pop = {}
    with open(os.path.join(repo, "data", "ics-population-2022.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["age_band"] in AGE_BANDS:
                m = pop.setdefault(row["ons_code"], [[0] * 2 for _ in AGE_BANDS])
                m[AGE_BANDS.index(row["age_band"])][SEXES.index(row["sex"])] += int(row["population"])
    region = {}
    with open(os.path.join(repo, "data", "ics.csv"), newline="") as f:
        for row in csv.DictReader(f):
            region[row["ons_code"]] = row["nhs_region"]
    codes = sorted(pop)
    if len(codes) != 42:
        sys.exit(f"make_bench_data: expected 42 ICSs in data/ics-population-2022.csv, found {len(codes)}")
    min_n = 10 * len(codes)
    if args.n < min_n:
        sys.exit(f"make_bench_data: --n must be at least {min_n} (10 respondents per ICS, so every ICS is raked)")

    rng = random.Random(args.seed)
    n_adult, eth_pop, imd_pop = {}, {}, {}
    for code in codes:
        n_adult[code] = sum(sum(r) for r in pop[code])
        base = ETH_REGION[region[code]]
        minority = [b * math.exp(rng.gauss(0, 0.3)) for b in base[1:]]
        eth_pop[code] = round_to_total([1 - sum(minority)] + minority, n_adult[code])
        d = DEP_REGION[region[code]] + rng.gauss(0, 0.3)
        imd_pop[code] = round_to_total([math.exp(-d * (q - 2) * 0.45) for q in range(5)], n_adult[code])

    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "margins.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ics", "dimension", "category", "population"])
        for code in codes:
            m = pop[code]
            for a, band in enumerate(AGE_BANDS):
                w.writerow([code, "age_band", band, sum(m[a])])
            for s, sex in enumerate(SEXES):
                w.writerow([code, "sex", sex, sum(r[s] for r in m)])
            for e, eth in enumerate(ETHNICITIES):
                w.writerow([code, "ethnicity", eth, eth_pop[code][e]])
            for q, imd in enumerate(IMD_Q):
                w.writerow([code, "imd_quintile", imd, imd_pop[code][q]])

    # respondents: cells (age, sex, eth, imd) drawn with skewed probabilities
    alloc = round_to_total([math.sqrt(n_adult[c]) for c in codes], args.n)
    cells = [(a, s, e, q) for a in range(6) for s in range(2) for e in range(5) for q in range(5)]
    rows = []  # (ics index, cell, base weight)
    for k, code in enumerate(codes):
        n, N = alloc[k], n_adult[code]
        m, ep, qp = pop[code], eth_pop[code], imd_pop[code]
        probs = [
            m[a][s] / N * ep[e] / N * qp[q] / N
            * PROP_AGE[a] * PROP_SEX[s] * PROP_ETH[e] * PROP_IMD[q] * OVERSAMPLE_IMD[q]
            for (a, s, e, q) in cells
        ]
        # every category of every margin gets at least one respondent
        forced = [(j % 6, j % 2, j % 5, j % 5) for j in range(6)]
        drawn = rng.choices(cells, weights=probs, k=n - len(forced))
        n_invited = round(n / RESPONSE_RATE)
        scale = sum(qp[q] * OVERSAMPLE_IMD[q] for q in range(5)) / n_invited
        bw = [f"{scale / OVERSAMPLE_IMD[q]:.2f}" for q in range(5)]
        rows.extend((k, cell, bw[cell[3]]) for cell in forced + drawn)
    rng.shuffle(rows)

    with open(os.path.join(args.out_dir, "respondents.csv"), "w", newline="") as f:
        f.write("id,ics,age_band,sex,ethnicity,imd_quintile,base_weight\n")
        out = []
        for i, (k, (a, s, e, q), bw) in enumerate(rows, 1):
            out.append(f"{i},{codes[k]},{AGE_BANDS[a]},{SEXES[s]},{ETHNICITIES[e]},{IMD_Q[q]},{bw}\n")
            if len(out) == 100_000:
                f.writelines(out)
                out.clear()
        f.writelines(out)
    print(f"make_bench_data: {len(rows)} respondents in {len(codes)} ICSs, 4 margins -> {args.out_dir}",
          file=sys.stderr)


if __name__ == "__main__":
    main()

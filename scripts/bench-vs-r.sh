#!/usr/bin/env bash
# Benchmarks `joinedup weight` against R's survey::rake() on the same files,
# checks that the two sets of weights agree, and prints both times, the
# ratios and the peak memory.
#
#   scripts/bench-vs-r.sh [--n 1000000] [--seed 20240] [--runs 5]
#                         [--r-timeout 1800] [--keep]
#
#   --n N          respondents to generate (default 1000000, at least 10000),
#                  spread over the 42 ICSs; 4 margins: age_band, sex,
#                  ethnicity, imd_quintile
#   --seed S       generator seed (default 20240); same n and seed = same files
#   --runs K       timed joinedup runs per variant, after one warm-up (default
#                  5 at 1,000,000 respondents, more for smaller --n, at most 50)
#   --r-timeout S  give up on R after S seconds (default 1800)
#   --keep         keep the temporary folder with the inputs and both outputs
#
# JOINEDUP_BIN=path uses that binary; otherwise this builds
# `cargo build --release -p joinedup` first.
#
# The data come from scripts/make_bench_data.py (real ONS adult age x sex
# margins, synthetic ethnicity and IMD margins and respondents, skewed
# response; no missing values, no empty categories) and are written to a
# temporary folder, removed at the end unless --keep.
#
# Times:
#   joinedup end-to-end  wall time of the whole process (read, weight, write),
#                        median of K runs;
#   joinedup raking      the same run minus a run with --min-respondents above
#                        every ICS's size (every ICS scaled, not raked): the
#                        time spent on targets and raking, the like of rake();
#   R end-to-end         wall time of Rscript: start-up, library(survey),
#                        reading, svydesign(), rake(), writing; one run;
#   R rake()             the rake() call alone (svydesign() reported apart).
# Ratios: the headline is R's rake() call alone / joinedup end-to-end (the
# issue's measure: R is not charged for start-up, reading or svydesign(),
# joinedup is charged for everything); then R end-to-end / joinedup
# end-to-end, and R rake() / joinedup raking.
# Peak memory: maximum resident set size from /usr/bin/time -v; CPU time
# (user + system, all threads) is shown too, as it is less affected by other
# work on the machine. The report says how much CPU other processes used
# during the timed runs: above 0.1 CPUs, times are inflated.
#
# Needs python3 (standard library), Rscript with the survey package, and GNU
# time (/usr/bin/time; installed with apt-get when missing and run as root).
# data.table is used for R's reading and writing when installed, else
# read.csv and writeLines.
#
# Exit status: 0 = weights agree (max relative difference <= 1e-6);
# 1 = they do not, or joinedup or R failed (R out of memory or past the
# timeout included: try a smaller --n); 2 = bad usage or a missing tool.
# Missing the speed targets (joinedup under 2 s, 20x faster than R) is
# reported, not an error.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"

N=1000000
SEED=20240
RUNS=
R_TIMEOUT=1800
KEEP=0
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --n) N="${2:?--n needs a number}"; shift 2 ;;
    --seed) SEED="${2:?--seed needs a number}"; shift 2 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift 2 ;;
    --r-timeout) R_TIMEOUT="${2:?--r-timeout needs seconds}"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-vs-r: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in N SEED RUNS R_TIMEOUT; do
  [[ $v == RUNS && -z "$RUNS" ]] && continue
  if ! [[ "${!v}" =~ ^[0-9]+$ ]] || [[ "${!v}" -lt 1 ]]; then
    echo "bench-vs-r: --$(tr '[:upper:]_' '[:lower:]-' <<<"$v") must be a positive whole number" >&2
    exit 2
  fi
done
# default: enough runs for about 5 million respondents in all, 5 to 50
[[ -n "$RUNS" ]] || RUNS=$(( N >= 1000000 ? 5 : (5000000 / N > 50 ? 50 : 5000000 / N) ))

say() { echo "bench-vs-r: $*" >&2; }
if [[ $N -lt 10000 ]]; then
  # a few dozen respondents per ICS over 4 margins may not be rakeable at all
  say "--n must be at least 10000 (about 150 respondents per ICS or more)"; exit 2
fi

# ---- tools -------------------------------------------------------------------
command -v python3 >/dev/null || { say "python3 not found"; exit 2; }
command -v Rscript >/dev/null || { say "Rscript not found (Debian: apt-get install r-base-core r-cran-survey)"; exit 2; }
if ! Rscript -e 'quit(status = if (requireNamespace("survey", quietly = TRUE)) 0 else 3)' >/dev/null 2>&1; then
  say "the R package 'survey' is not installed (Debian: r-cran-survey)"; exit 2
fi
if [[ ! -x /usr/bin/time ]]; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing GNU time (apt-get install time)"
    apt-get install -y --no-install-recommends time >/dev/null || { apt-get update >/dev/null && apt-get install -y --no-install-recommends time >/dev/null; }
  fi
  [[ -x /usr/bin/time ]] || { say "/usr/bin/time (GNU time) is needed: apt-get install time"; exit 2; }
fi

if [[ -n "${JOINEDUP_BIN:-}" ]]; then
  BIN="$JOINEDUP_BIN"
else
  say "building: cargo build --release -p joinedup"
  if ! cargo build --release -p joinedup >&2; then
    say "the release build failed; to benchmark an existing binary: JOINEDUP_BIN=target/release/joinedup $0 ..."
    exit 2
  fi
  BIN="$REPO/target/release/joinedup"
fi
[[ -x "$BIN" ]] || { say "no joinedup binary at $BIN"; exit 2; }

TMP="$(mktemp -d -t joinedup-bench.XXXXXX)"
cleanup() { if [[ $KEEP -eq 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

# ---- data --------------------------------------------------------------------
say "generating $N respondents (seed $SEED) in $TMP"
t0=$EPOCHREALTIME
python3 "$REPO/scripts/make_bench_data.py" --n "$N" --seed "$SEED" --out-dir "$TMP"
GEN_S=$(python3 -c "print(f'{$EPOCHREALTIME - $t0:.1f}')")

# ---- joinedup ----------------------------------------------------------------
# run_timed NAME CMD...: wall seconds to $TMP/NAME.wall, time -v to $TMP/NAME.time
run_timed() {
  local name="$1"; shift
  local start=$EPOCHREALTIME status=0
  /usr/bin/time -v -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || status=$?
  python3 -c "print($EPOCHREALTIME - $start)" >"$TMP/$name.wall"
  return $status
}
jd() {  # jd NAME OUT [extra args]
  local name="$1" out="$2"; shift 2
  if ! run_timed "$name" "$BIN" weight --respondents "$TMP/respondents.csv" --margins "$TMP/margins.csv" \
      --out "$out" "$@"; then
    say "joinedup weight failed ($name):"; tail -n 20 "$TMP/$name.err" >&2; exit 1
  fi
}
# other work on the machine skews every time below: CPU counters around the timed runs
{ echo "$EPOCHREALTIME"; head -n 1 /proc/stat; } >"$TMP/cpu.before"
say "joinedup: 1 warm-up run, then $RUNS timed run(s) raking and $RUNS with raking off, interleaved"
jd jd_warm "$TMP/weights_joinedup.csv"
for i in $(seq 1 "$RUNS"); do
  jd "jd_full_$i" "$TMP/weights_joinedup.csv"
  jd "jd_noraking_$i" "$TMP/weights_scaled.csv" --min-respondents $((N + 1))
done

# ---- R -----------------------------------------------------------------------
cat >"$TMP/rake.R" <<'EOF'
# survey::rake() on the benchmark files; phase times to the timings file.
args <- commandArgs(trailingOnly = TRUE)
resp_path <- args[1]; margins_path <- args[2]; out_path <- args[3]; timings_path <- args[4]
options(warn = 1)
t_start <- proc.time()[["elapsed"]]
suppressPackageStartupMessages(library(survey))
have_dt <- requireNamespace("data.table", quietly = TRUE)
now <- function() proc.time()[["elapsed"]]
times <- c(library = now() - t_start)
warnings_seen <- character(0)

t <- now()
classes <- c(id = "character", ics = "character", age_band = "character", sex = "character",
             ethnicity = "character", imd_quintile = "character", base_weight = "numeric")
resp <- if (have_dt) {
  as.data.frame(data.table::fread(resp_path, colClasses = classes, na.strings = ""))
} else {
  read.csv(resp_path, colClasses = classes, na.strings = "")
}
margins <- read.csv(margins_path, colClasses = c("character", "character", "character", "numeric"))
times["read"] <- now() - t

t <- now()
des <- svydesign(ids = ~1, strata = ~ics, weights = ~base_weight, data = resp)
times["svydesign"] <- now() - t

dims <- unique(margins$dimension)  # the margins file's order = joinedup's raking order
sample_margins <- lapply(dims, function(d) as.formula(paste("~ ics +", d)))
population_margins <- lapply(dims, function(d) {
  m <- margins[margins$dimension == d, ]
  p <- data.frame(ics = m$ics, category = m$category, Freq = m$population)
  names(p)[2] <- d
  p
})
t <- now()
rk <- withCallingHandlers(
  rake(des, sample_margins, population_margins, control = list(maxit = 1000, epsilon = 1e-12)),
  warning = function(w) {
    warnings_seen <<- c(warnings_seen, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
times["rake"] <- now() - t

t <- now()
w <- weights(rk)
if (have_dt) {
  data.table::fwrite(data.frame(id = resp$id, weight = w), out_path, dateTimeAs = "write.csv")
} else {
  con <- file(out_path, open = "wb")
  writeLines(c("id,weight", paste0(resp$id, ",", sprintf("%.17g", w))), con, sep = "\n")
  close(con)
}
times["write"] <- now() - t
times["in_process"] <- now() - t_start

lines <- c(sprintf("%s=%.6f", names(times), times),
           sprintf("reader=%s", if (have_dt) "data.table::fread" else "read.csv"),
           sprintf("r_version=%s", paste(R.version$major, R.version$minor, sep = ".")),
           sprintf("survey_version=%s", packageDescription("survey")$Version),
           sprintf("warning=%s", gsub("[\r\n]", " ", warnings_seen)))
writeLines(lines, timings_path)
if (any(grepl("converge", warnings_seen))) {
  message("rake() did not converge: ", paste(warnings_seen, collapse = "; "))
  quit(status = 4)
}
EOF
if [[ -n "$(Rscript -e 'cat(requireNamespace("data.table", quietly = TRUE))' 2>/dev/null | grep TRUE)" ]]; then
  say "R: data.table is installed: fread/fwrite used"
fi
say "R: one run of svydesign() + rake() (timeout ${R_TIMEOUT}s; may take minutes)"
r_status=0
r_start=$EPOCHREALTIME
timeout --kill-after=10 "$R_TIMEOUT" \
  /usr/bin/time -v -o "$TMP/r.time" Rscript "$TMP/rake.R" "$TMP/respondents.csv" "$TMP/margins.csv" \
  "$TMP/weights_r.csv" "$TMP/r.timings" >"$TMP/r.out" 2>"$TMP/r.err" || r_status=$?
python3 -c "print($EPOCHREALTIME - $r_start)" >"$TMP/r.wall"
if [[ $r_status -ne 0 ]]; then
  say "R failed (exit status $r_status) on $N respondents."
  if [[ $r_status -eq 124 || $r_status -eq 137 && ! -s "$TMP/r.time" ]]; then
    say "  R took longer than ${R_TIMEOUT}s and was stopped."
  elif grep -qiE "cannot allocate|memory exhausted|signal 9" "$TMP/r.err" "$TMP/r.time" 2>/dev/null; then
    say "  R ran out of memory (peak RSS: $(awk -F': ' '/Maximum resident/ {printf "%.0f MB", $2/1024}' "$TMP/r.time" 2>/dev/null))."
  fi
  say "  last lines of R's output:"; tail -n 15 "$TMP/r.err" | sed 's/^/    /' >&2
  smaller=$(( N / 10 > 10000 ? N / 10 : 10000 ))
  say "  Try a smaller size, e.g.: scripts/bench-vs-r.sh --n $smaller$([[ $r_status -eq 124 || $r_status -eq 137 ]] && echo " (or raise --r-timeout)")"
  exit 1
fi

# ---- report ------------------------------------------------------------------
{ echo "$EPOCHREALTIME"; head -n 1 /proc/stat; } >"$TMP/cpu.after"
python3 - "$TMP" "$N" "$RUNS" "$GEN_S" "$SEED" "$(getconf CLK_TCK)" <<'EOF'
import csv, os, re, statistics, sys

tmp, n, runs, gen_s, seed, clk_tck = sys.argv[1:7]
n, runs, clk_tck = int(n), int(runs), int(clk_tck)
p = lambda name: os.path.join(tmp, name)

def wall(name):
    return float(open(p(name + ".wall")).read())

def rss_mb(name):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(p(name + ".time")).read())
    return int(m.group(1)) / 1024

def cpu_seconds(name):  # user + system time of one timed command
    t = open(p(name + ".time")).read()
    return sum(float(re.search(rf"{k} time \(seconds\): ([0-9.]+)", t).group(1)) for k in ("User", "System"))

def counters(name):  # wall clock, busy CPU seconds of the whole machine
    lines = open(p(name)).read().splitlines()
    fields = [int(x) for x in lines[1].split()[1:]]
    return float(lines[0]), (sum(fields[:8]) - fields[3] - fields[4]) / clk_tck

(w0, b0), (w1, b1) = counters("cpu.before"), counters("cpu.after")
ours = sum(cpu_seconds(f) for f in ["jd_warm", "r"] + [f"jd_{v}_{i}" for v in ("full", "noraking") for i in range(1, runs + 1)])
others = max(0.0, (b1 - b0 - ours) / (w1 - w0))

def mem(mb):
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"

full = [wall(f"jd_full_{i}") for i in range(1, runs + 1)]
scaled = [wall(f"jd_noraking_{i}") for i in range(1, runs + 1)]
jd_e2e, jd_scaled = statistics.median(full), statistics.median(scaled)
jd_rake = jd_e2e - jd_scaled
# below this the subtraction is run-to-run noise, not a time: twice the
# standard error of the difference of the medians (from the MADs)
def se_median(xs):
    mad = statistics.median(abs(x - statistics.median(xs)) for x in xs)
    return 1.2533 * 1.4826 * mad / len(xs) ** 0.5
noise = max(0.002, 2 * (se_median(full) ** 2 + se_median(scaled) ** 2) ** 0.5)
rake_measured = jd_rake > noise
jd_rss = max(rss_mb(f"jd_full_{i}") for i in range(1, runs + 1))
jd_rss_scaled = max(rss_mb(f"jd_noraking_{i}") for i in range(1, runs + 1))

# joinedup's own diagnostics: cycles per ICS and the summary line
err = open(p("jd_full_1.err")).read().splitlines()
cycles = [int(l.split()[2]) for l in err[1:] if re.match(r"^\S+\s+\d+\s+\d+\s+\d+\s", l)]
summary = next((l for l in err if l.startswith("weighted ")), "")

r = {}
warnings = []
for line in open(p("r.timings")).read().splitlines():
    k, _, v = line.partition("=")
    if k == "warning":
        warnings.append(v)
    else:
        r[k] = v
r_e2e, r_rss = wall("r"), rss_mb("r")
rt = {k: float(r[k]) for k in ("library", "read", "svydesign", "rake", "write", "in_process")}

# agreement, by id
def read_weights(name):
    with open(p(name), newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        assert header[:2] == ["id", "weight"], f"{name}: header {header}"
        return {row[0]: float(row[1]) for row in rows}
wj, wr = read_weights("weights_joinedup.csv"), read_weights("weights_r.csv")
ok = True
if wj.keys() != wr.keys():
    print(f"ids differ: {len(wj.keys() - wr.keys())} only in joinedup, {len(wr.keys() - wj.keys())} only in R")
    ok = False
common = [i for i in wj if i in wr]  # joinedup's file order, so the worst id is reproducible
worst_id, max_rel, max_abs = None, 0.0, 0.0
for i in common:
    a, b = wj[i], wr[i]
    d = abs(a - b)
    rel = d / abs(b) if b != 0 else (0.0 if d == 0 else float("inf"))
    max_abs = max(max_abs, d)
    if worst_id is None or rel > max_rel:
        max_rel, worst_id = rel, i
LIMIT = 1e-6
agree = ok and len(common) == n and max_rel <= LIMIT

e2e_ratio = r_e2e / jd_e2e
headline_ratio = rt["rake"] / jd_e2e
rake_ratio = rt["rake"] / jd_rake if rake_measured else float("nan")
size_mb = os.path.getsize(p("respondents.csv")) / 1e6
def fmt(xs):
    if len(xs) <= 10:
        return f"median of {len(xs)}: " + " ".join(f"{x:.3f}" for x in xs)
    return f"median of {len(xs)}, from {min(xs):.3f} to {max(xs):.3f}"

print(f"joinedup weight vs R survey::rake(): {n:,} respondents, 42 ICSs, 4 margins "
      f"(age_band, sex, ethnicity, imd_quintile)")
print(f"data: respondents.csv {size_mb:.1f} MB, generated in {gen_s} s (seed {seed}); "
      f"{os.cpu_count()} CPUs; R {r['r_version']}, survey {r['survey_version']}, reading with {r['reader']}")
print(f"other processes used {others:.2f} of {os.cpu_count()} CPUs on average during the timed runs"
      + ("   (the machine was busy: times are inflated)" if others > 0.1 else ""))
print()
cpu_full = statistics.median(cpu_seconds(f"jd_full_{i}") for i in range(1, runs + 1))
cpu_scaled = statistics.median(cpu_seconds(f"jd_noraking_{i}") for i in range(1, runs + 1))
print(f"{'':34}{'wall time':>11}  {'peak RSS':>9}  {'CPU time':>9}")
print(f"{'joinedup end-to-end':34}{jd_e2e:>9.3f} s  {mem(jd_rss):>9}  {cpu_full:>7.2f} s   {fmt(full)}")
print(f"{'  same, raking off (scaled only)':34}{jd_scaled:>9.3f} s  {mem(jd_rss_scaled):>9}  {cpu_scaled:>7.2f} s   {fmt(scaled)}")
print(f"{'  => joinedup targets + raking':34}{jd_rake:>9.3f} s"
      + ("" if rake_measured else f"   (within run-to-run noise, {noise:.3f} s: no raking ratio)"))
print(f"{'R end-to-end (Rscript)':34}{r_e2e:>9.2f} s  {mem(r_rss):>9}  {cpu_seconds('r'):>7.2f} s   one run")
print(f"{'  start-up + library(survey)':34}{r_e2e - rt['in_process'] + rt['library']:>9.2f} s")
print(f"{'  read':34}{rt['read']:>9.2f} s")
print(f"{'  svydesign()':34}{rt['svydesign']:>9.2f} s")
print(f"{'  rake()':34}{rt['rake']:>9.2f} s")
print(f"{'  weights() + write':34}{rt['write']:>9.2f} s")
print()
print(f"ratio R rake() alone / joinedup end-to-end:            {headline_ratio:8.1f}x")
print(f"ratio end-to-end  (R Rscript / joinedup process):      {e2e_ratio:8.1f}x")
print(f"ratio raking      (R rake() / joinedup targets+raking): {(f'{rake_ratio:8.1f}x' if rake_measured else '     n/a')}")
print(f"peak memory       R / joinedup:                        {r_rss / jd_rss:8.1f}x")
print()
if cycles:
    print(f"joinedup: {summary}; raking cycles per ICS {min(cycles)}-{max(cycles)}")
if warnings:
    print("R warnings: " + "; ".join(warnings))
print(f"weights: {len(common):,} ids compared; max relative difference {max_rel:.3g} (id {worst_id}: "
      f"joinedup {wj.get(worst_id)!r}, R {wr.get(worst_id)!r}); max absolute difference {max_abs:.3g}")
print(f"agreement (max relative difference <= {LIMIT:g}): {'OK' if agree else 'FAILED'}")
t1 = jd_e2e < 2.0
t2 = headline_ratio >= 20
t3 = headline_ratio >= 50
print(f"targets: joinedup end-to-end under 2 s: {'met' if t1 else 'MISSED'} ({jd_e2e:.3f} s); "
      f"R rake() alone / joinedup end-to-end at least 20x: {'met' if t2 else 'MISSED'} ({headline_ratio:.1f}x); "
      f"aim 50x: {'met' if t3 else 'not yet'}")
sys.exit(0 if agree else 1)
EOF

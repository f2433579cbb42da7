#!/bin/sh
# Runs `ofl compile` on the jobs of this folder and checks exit codes, the
# written files and the printed summary.
#   check_compile.sh OFL JOBS_DIR OUT_DIR infer|train|errors
set -u
ofl="$1"; jobs="$2"; out="$3"; mode="$4"
fail() { echo "FAIL: $*"; exit 1; }

# expect_plan JOB DIR: compiles JOB into DIR and checks what comes out.
expect_plan() {
  rm -rf "$2"
  mkdir -p "$(dirname "$2")"
  "$ofl" compile "$1" --out "$2" > "$2.stdout" 2> "$2.stderr"
  rc=$?
  cat "$2.stdout" "$2.stderr"
  [ "$rc" -eq 0 ] || fail "ofl compile $1 exited with $rc"
  for file in plan.pb plan.txt plan.dot; do
    [ -s "$2/$file" ] || fail "$2/$file is missing or empty"
  done
  head -n 1 "$2/plan.txt" | grep -qx 'plan {' || fail "plan.txt does not start with 'plan {'"
  head -n 1 "$2/plan.dot" | grep -qx 'digraph plan {' || fail "plan.dot does not start with 'digraph plan {'"
  grep -q 'physical_lowering' "$2.stdout" || fail "no physical_lowering timing printed"
  grep -q '^plan: ops [0-9]*, actors [0-9]*, registers [0-9]*' "$2.stdout" || fail "no plan summary printed"
}

case "$mode" in
  infer)
    expect_plan "$jobs/mlp_infer_2dev.txt" "$out/infer"
    # 5 nodes on 2 devices; "hidden" (S(0)) and "total" (P) fetch both pieces.
    grep -q '^plan: ops 3, actors 14, registers 10' "$out/infer.stdout" || fail "unexpected actor or register counts"
    grep -q 'feed "x" f32\[10, 4\] pieces (a[0-9]* r[0-9]*\.0 \[0:5, 0:4\], a[0-9]* r[0-9]*\.0 \[5:10, 0:4\])' \
      "$out/infer/plan.txt" || fail "feed x is not split 5/5 in plan.txt"
    grep -q 'fetch "total" f32\[\] combine sum' "$out/infer/plan.txt" || fail "fetch total does not sum its pieces"
    grep -q 'label="cpu:1"' "$out/infer/plan.dot" || fail "plan.dot has no cpu:1 cluster"
    # The default output folder is the job's name + .plan.
    cp "$jobs/mlp_infer_2dev.txt" "$out/job.txt"
    rm -rf "$out/job.txt.plan"
    "$ofl" compile "$out/job.txt" > /dev/null || fail "compile with the default output folder failed"
    [ -s "$out/job.txt.plan/plan.pb" ] || fail "no $out/job.txt.plan/plan.pb"
    ;;
  train)
    expect_plan "$jobs/mlp_train_2dev.txt" "$out/train"
    grep -q ' collective ' "$out/train/plan.txt" || fail "no collective (gradient all-reduce) in the training plan"
    grep -q ' inplace' "$out/train/plan.txt" || fail "no in-place variable update in the training plan"
    ;;
  errors)
    mkdir -p "$out"
    "$ofl" compile "$out/no_such_job.txt" > "$out/missing.out" 2>&1
    rc=$?
    cat "$out/missing.out"
    [ "$rc" -eq 1 ] || fail "a missing job file exited with $rc, expected 1"
    grep -q "no_such_job.txt" "$out/missing.out" || fail "the error does not name the missing file"
    sed 's/relu(%2)/relu(%9)/' "$jobs/mlp_infer_2dev.txt" > "$out/bad_job.txt"
    "$ofl" compile "$out/bad_job.txt" > "$out/bad.out" 2>&1
    rc=$?
    cat "$out/bad.out"
    [ "$rc" -eq 1 ] || fail "a malformed job exited with $rc, expected 1"
    grep -q "line 8" "$out/bad.out" || fail "the parse error does not name line 8"
    "$ofl" compile > /dev/null 2>&1
    [ "$?" -eq 2 ] || fail "no job file: expected the usage exit code 2"
    ;;
  *) fail "unknown mode '$mode'" ;;
esac
echo "ok: $mode"

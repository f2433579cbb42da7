#!/bin/sh
# Runs `ofl run` on a saved training job and on its compiled plan.pb and
# checks the printed losses and the errors.
#   check_run.sh OFL JOBS_DIR OUT_DIR
set -u
ofl="$1"; jobs="$2"; out="$3"
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"; mkdir -p "$out"

# The job: 3 steps, one finite loss line per step and a logits summary.
"$ofl" run "$jobs/mlp_train_2dev.txt" --steps 3 --seed 7 --classes 3 > "$out/job.out" 2>&1
rc=$?; cat "$out/job.out"
[ "$rc" -eq 0 ] || fail "ofl run on the job exited with $rc"
for step in 0 1 2; do
  grep -Eq "^step $step: loss = -?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$" "$out/job.out" || fail "no loss line for step $step"
  grep -Eq "^step $step: logits f32\[8, 3\] mean .* min .* max " "$out/job.out" || fail "no logits summary for step $step"
done
[ "$(grep -c ': loss = ' "$out/job.out")" -eq 3 ] || fail "expected exactly 3 loss lines"
grep -q "^step 3:" "$out/job.out" && fail "printed a 4th step"

# The same seed gives the same losses; the compiled plan.pb gives them too.
"$ofl" run "$jobs/mlp_train_2dev.txt" --steps 3 --seed 7 --classes 3 > "$out/again.out" 2>&1 || fail "second run failed"
cmp -s "$out/job.out" "$out/again.out" || fail "the same seed printed different output"
# A compiled plan.pb prints what its job prints (the inference job without
# its reduce_sum: empty list attrs, axes=[] and shape=[], do not round-trip
# through plan.pb yet).
grep -v '"total"' "$jobs/mlp_infer_2dev.txt" > "$out/infer_job.txt"
"$ofl" run "$out/infer_job.txt" --steps 2 --seed 7 > "$out/infer.out" 2>&1 || fail "ofl run on the inference job failed"
cat "$out/infer.out"
grep -Eq "^step 1: hidden f32\[10, 16\] mean .* min 0 max " "$out/infer.out" || fail "no relu'd hidden summary"
"$ofl" compile "$out/infer_job.txt" --out "$out/plan" > /dev/null || fail "ofl compile failed"
"$ofl" run "$out/plan/plan.pb" --steps 2 --seed 7 > "$out/plan.out" 2>&1 || { cat "$out/plan.out"; fail "ofl run on plan.pb failed"; }
[ "$(grep '^step' "$out/infer.out")" = "$(grep '^step' "$out/plan.out")" ] || fail "plan.pb prints other values than its job"
# A different seed gives different feeds and so a different loss.
"$ofl" run "$jobs/mlp_train_2dev.txt" --steps 1 --seed 8 --classes 3 > "$out/seed8.out" 2>&1 || fail "seed 8 failed"
[ "$(grep 'step 0: loss' "$out/seed8.out")" != "$(grep 'step 0: loss' "$out/job.out")" ] || fail "--seed has no effect"
# Zero feeds: every logit is 0 at step 0 (x = 0), so the loss is log(3).
"$ofl" run "$jobs/mlp_train_2dev.txt" --feed zeros > "$out/zeros.out" 2>&1 || fail "--feed zeros failed"
cat "$out/zeros.out"
grep -q "^step 0: loss = 1.09861$" "$out/zeros.out" || fail "zero feeds do not give loss log(3)"

# Errors name the file; usage errors exit 2.
"$ofl" run "$out/no_such_job.txt" > "$out/missing.out" 2>&1
rc=$?; cat "$out/missing.out"
[ "$rc" -eq 1 ] || fail "a missing job exited with $rc, expected 1"
grep -q "no_such_job.txt" "$out/missing.out" || fail "the error does not name the missing file"
echo "not a plan" > "$out/bad.pb"
"$ofl" run "$out/bad.pb" > "$out/badpb.out" 2>&1
rc=$?; cat "$out/badpb.out"
[ "$rc" -eq 1 ] || fail "a corrupt plan.pb exited with $rc, expected 1"
grep -q "bad.pb" "$out/badpb.out" || fail "the error does not name the corrupt plan"
sed 's/relu(%4)/relu(%42)/' "$jobs/mlp_train_2dev.txt" > "$out/bad_job.txt"
"$ofl" run "$out/bad_job.txt" > "$out/badjob.out" 2>&1
rc=$?; cat "$out/badjob.out"
[ "$rc" -eq 1 ] || fail "a malformed job exited with $rc, expected 1"
grep -q "bad_job.txt" "$out/badjob.out" || fail "the error does not name the malformed job"
"$ofl" run "$jobs/mlp_train_2dev.txt" --steps x > /dev/null 2>&1
[ "$?" -eq 2 ] || fail "--steps x: expected the usage exit code 2"
"$ofl" run > /dev/null 2>&1
[ "$?" -eq 2 ] || fail "no file: expected the usage exit code 2"
echo "ok: ofl run"

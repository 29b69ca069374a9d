# shellcheck shell=bash
# Counting checks the same way in every script test: PASS:/FAIL: lines, and a last
# line "N passed, M failed" (which CI reads); vr_test_summary exits non-zero on failures.
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
vr_test_summary() {
	echo "$passed passed, $failed failed"
	((failed == 0))
}

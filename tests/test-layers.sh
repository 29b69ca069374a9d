#!/usr/bin/env bash
# The layer rules hold and their check can fail: lib/check-layers.sh passes on the
# build, and refuses a base layer that calls the model, a model that calls a plan and a
# tuner that calls the XML layer (each planted into a copy of the real library). The
# tuner maps neither libxml2 nor libsystemd. Nothing under lib/ but lib/prog logs.
set -uo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
check=$top_srcdir/lib/check-layers.sh
CC=${CC:-cc}
export CC
GLIB_LIBS=${GLIB_LIBS:-$(pkg-config --libs glib-2.0)}
LIBXML_LIBS=${LIBXML_LIBS:-$(pkg-config --libs libxml-2.0)}
SYSTEMD_LIBS=${SYSTEMD_LIBS:-$(pkg-config --libs libsystemd 2>/dev/null || true)}
export GLIB_LIBS LIBXML_LIBS SYSTEMD_LIBS

for a in lib/base/.libs/libvrbase.a qemu-helper/.libs/libvrtuner.a; do
	[[ -f $top_builddir/$a ]] || { echo "SKIP: $a not built (libtool without static convenience archives?)"; exit 77; }
done

fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if out=$(bash "$check" "$top_builddir" 2>&1); then
	ok "the build keeps the layers"
else
	bad "the build breaks the layers: $out"
fi

# plant LAYER ARCHIVE FUNCTION: a copy of ARCHIVE with one more object that calls
# FUNCTION, which LAYER may not use. The check must fail and name FUNCTION.
plant() {
	local layer=$1 arch=$2 fn=$3
	cp "$top_builddir/$arch" "$tmp/$layer.a"
	printf 'void %s(void);\nvoid vr_planted_%s(void) { %s(); }\n' "$fn" "$layer" "$fn" >"$tmp/planted-$layer.c"
	# shellcheck disable=SC2086 # CC may carry flags (the sanitizer build's)
	$CC -fPIC -c -o "$tmp/planted-$layer.o" "$tmp/planted-$layer.c"
	ar r "$tmp/$layer.a" "$tmp/planted-$layer.o" 2>/dev/null
	if out=$(bash "$check" "$top_builddir" "$layer=$tmp/$layer.a" 2>&1); then
		bad "$layer calling $fn passed the check"
	elif grep -q "layer '$layer'" <<<"$out" && grep -q "$fn" <<<"$out"; then
		ok "$layer calling $fn is refused, naming it"
	else
		bad "$layer calling $fn failed without naming layer and function: $out"
	fi
}
plant base lib/base/.libs/libvrbase.a vr_policy_new
plant model lib/model/.libs/libvrmodel.a vr_plan_build
plant host lib/host/.libs/libvrhost.a vr_tune_plan
plant plan lib/plan/.libs/libvrplan.a vr_xml_parse
plant tuner qemu-helper/.libs/libvrtuner.a vr_policy_parse

# lib/ never logs: it returns errors, and each program prints or logs each once
# (lib/prog/vr-log.c is the programs' logger). The sources of DIR that call it:
lib_loggers() {
	grep -rlE '(^|[^a-z_])vr_log(_open)?[[:space:]]*\(|#include "vr-log.h"' --include='*.c' --include='*.h' "$1" |
		grep -v '/prog/'
}
found=$(lib_loggers "$top_srcdir/lib")
[[ -z $found ]] && ok "nothing under lib/ calls vr_log" || bad "lib/ logs (return an error instead): $found"
mkdir -p "$tmp/lib/host" "$tmp/lib/prog"
printf '#include "vr-log.h"\nvoid f(void) { vr_log(LOG_ERR, "x"); }\n' >"$tmp/lib/host/planted.c"
cp "$top_srcdir/lib/prog/vr-log.c" "$tmp/lib/prog/"
[[ $(lib_loggers "$tmp/lib") == "$tmp/lib/host/planted.c" ]] && ok "a planted vr_log call in lib/host is found" ||
	bad "a planted vr_log call in lib/host is not found"

tune=$top_builddir/virt-router-tune
if [[ -x $tune ]] && command -v ldd >/dev/null; then
	libs=$(ldd "$tune")
	if grep -Eq 'libxml2|libsystemd' <<<"$libs"; then
		bad "virt-router-tune maps libxml2 or libsystemd: $libs"
	else
		ok "virt-router-tune maps neither libxml2 nor libsystemd"
	fi
else
	bad "no virt-router-tune or no ldd"
fi
exit $fail

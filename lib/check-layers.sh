#!/usr/bin/env bash
# Link-time check of the layers (docs/architecture.md): every object of a layer's
# convenience library is linked, whole, against only the layers it may use. A call from
# a lower layer into a higher one (or into a program's library) is then an undefined
# reference, and the build stops with the linker's message naming the function.
#
#   check-layers.sh BUILDDIR [LAYER=ARCHIVE ...]
# ARCHIVE replaces a layer's library (tests/test-layers.sh plants a violation this
# way). Environment: CC, GLIB_LIBS, LIBXML_LIBS, SYSTEMD_LIBS (make passes configure's).
set -euo pipefail

builddir=${1:?usage: check-layers.sh BUILDDIR [LAYER=ARCHIVE ...]}
shift
: "${CC:=cc}"
# CC may carry flags, as make allows (the sanitizer build's CC='gcc -fsanitize=...').
read -ra cc <<<"$CC"

declare -A archive=(
	[base]=lib/base/.libs/libvrbase.a
	[model]=lib/model/.libs/libvrmodel.a
	[plan]=lib/plan/.libs/libvrplan.a
	[xml]=lib/xml/.libs/libvrxml.a
	[host]=lib/host/.libs/libvrhost.a
	[prog]=lib/prog/.libs/libvrprog.a
	[tuner]=qemu-helper/.libs/libvrtuner.a
	[hook]=hook/.libs/libvrhook.a
	[bench]=tools/bench/.libs/libvrbench.a
)
for a in "$@"; do
	archive[${a%%=*}]=${a#*=}
done

# What each layer may call, nearest first. The tuner's list has no xml: that is what
# keeps libxml2 out of the long-lived tuner.
declare -A below=(
	[base]=""
	[model]="base"
	[plan]="model base"
	[xml]="plan model base"
	[host]="model base"
	[prog]="base"
	[tuner]="prog host plan model base"
	[hook]="prog xml host plan model base"
	[bench]="model base"
)
declare -A ext=(
	[xml]="${LIBXML_LIBS:-}"
	[hook]="${LIBXML_LIBS:-} ${SYSTEMD_LIBS:-}"
)

path_of() {
	local p=${archive[$1]}
	[[ $p == /* ]] && echo "$p" || echo "$builddir/$p"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'int main(void) { return 0; }' >"$tmp/main.c"
"${cc[@]}" -c -o "$tmp/main.o" "$tmp/main.c"

failed=0
for layer in base model plan xml host prog tuner hook bench; do
	deps=()
	for d in ${below[$layer]}; do
		deps+=("$(path_of "$d")")
	done
	# shellcheck disable=SC2086 # the *_LIBS are lists of flags
	if ! "${cc[@]}" -o "$tmp/$layer" "$tmp/main.o" -Wl,--whole-archive "$(path_of "$layer")" -Wl,--no-whole-archive \
		"${deps[@]}" ${ext[$layer]:-} ${GLIB_LIBS:-} -lm 2>"$tmp/err"; then
		echo "check-layers: layer '$layer' calls outside what it may use (${below[$layer]:-nothing but libc and GLib}):" >&2
		grep -E 'undefined reference' "$tmp/err" | sed 's/^.*undefined reference to/  undefined:/' | sort -u >&2 ||
			cat "$tmp/err" >&2
		failed=1
	fi
done
exit $failed

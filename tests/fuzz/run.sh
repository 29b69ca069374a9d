#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang and run each for a bounded time
# (docs/fuzzing.md). `make fuzz` runs it from a configured build tree:
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_HARNESSES='apply units'] [FUZZ_ARGS='-fork=1 -ignore_crashes=1']
#   make fuzz-merge          # seed from tests/data, minimise into tests/fuzz/corpus
#
# or by hand: FUZZ_OUT=DIR FUZZ_CONFIG_H=BUILD/config.h tests/fuzz/run.sh [--build-only|--merge] [NAME...]
#
# The sources are compiled again here, apart from the automake build: libFuzzer needs
# clang and -fsanitize=fuzzer on every object it is to see the coverage of, and the
# build itself is gcc's. Each harness runs on a copy of its committed corpus (new
# inputs go to FUZZ_OUT/corpus/NAME, the tree is not written) with its dictionary;
# a fault leaves FUZZ_OUT/crashes/NAME-crash-* and fails the run. No root needed.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fuzzdir=$src/tests/fuzz
out=${FUZZ_OUT:-$PWD/fuzz-out}
config_h=${FUZZ_CONFIG_H:-$PWD/config.h}
seconds=${FUZZ_SECONDS:-60}
all_harnesses=(apply hostconf spec units ledger)

mode=run
case ${1:-} in
--build-only) mode=build; shift ;;
--merge) mode=merge; shift ;;
-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
harnesses=("$@")
((${#harnesses[@]})) || harnesses=("${all_harnesses[@]}")

cc=${CLANG:-}
if [[ -z $cc ]]; then
	for c in clang-14 clang; do command -v "$c" >/dev/null && { cc=$c; break; }; done
fi
if [[ -z $cc ]]; then
	echo "fuzz: clang not found (scripts/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
	exit 1
fi
if [[ ! -f $config_h ]]; then
	echo "fuzz: $config_h not found: run configure first, or set FUZZ_CONFIG_H" >&2
	exit 1
fi

# Sanitizer checks stay recoverable in the objects: UBSAN_OPTIONS below makes the first
# one fatal (a fault with its input saved); halt_on_error=0 lists every site in one run.
san="-fsanitize=address,undefined"
cflags=(-std=gnu11 -g -O1 -fno-omit-frame-pointer -include "$config_h"
	-DSYSCONFDIR='"/etc"' -DLOCALSTATEDIR='"/var"' -DRUNSTATEDIR='"/run"'
	-DPKGDATADIR='"/usr/share/virt-router"' -DPKGLIBEXECDIR='"/usr/libexec/virt-router"'
	-DBINDIR='"/usr/bin"' -DQEMU_SYSTEM='"qemu-system-x86_64"' -DLIBVIRT_LXC='"lxc:///system"'
	-DVR_FUZZ_DATADIR="\"$src/tests/data\""
	-I"$src/lib/base" -I"$src/lib/model" -I"$src/lib/plan" -I"$src/lib/xml" -I"$src/lib/host"
	-I"$fuzzdir" -I"$(dirname "$config_h")")
read -ra pkg_cflags <<<"$(pkg-config --cflags glib-2.0 libxml-2.0)"
read -ra pkg_libs <<<"$(pkg-config --libs glib-2.0 libxml-2.0)"

# The layers the harnesses use (never hook/, tools/ or lib/prog: they log), as one
# archive so each harness links only what it calls.
build_lib() {
	local objdir=$out/obj lib=$out/libvr-fuzz.a changed=0 o
	mkdir -p "$objdir"
	local newest_h
	newest_h=$(find "$src/lib" "$config_h" -name '*.h' -newer "$lib" -print -quit 2>/dev/null || echo all)
	[[ -f $lib ]] || newest_h=all
	local todo=()
	for c in "$src"/lib/{base,model,plan,xml,host}/*.c; do
		o=$objdir/$(basename "$(dirname "$c")")-$(basename "${c%.c}").o
		if [[ -n $newest_h || ! -f $o || $c -nt $o ]]; then
			todo+=("$c")
		fi
	done
	if ((${#todo[@]})); then
		echo "fuzz: compiling ${#todo[@]} library sources with $cc"
		export objdir
		# shellcheck disable=SC2016 # expanded by the inner bash, per source
		printf '%s\n' "${todo[@]}" | xargs -P "$(nproc)" -I{} bash -c '
			c=$1; shift; o=$objdir/$(basename "$(dirname "$c")")-$(basename "${c%.c}").o
			"$@" -c "$c" -o "$o"' _ {} "$cc" "${cflags[@]}" "${pkg_cflags[@]}" -fsanitize=fuzzer-no-link "$san"
		changed=1
	fi
	if ((changed)) || [[ ! -f $lib ]]; then
		rm -f "$lib"
		ar rcs "$lib" "$objdir"/*.o
	fi
}

build_harness() {
	local name=$1 bin=$out/fuzz-$1
	if [[ ! -f $bin || $fuzzdir/fuzz-$name.c -nt $bin || $fuzzdir/vr-fuzz.h -nt $bin || $out/libvr-fuzz.a -nt $bin ]]; then
		echo "fuzz: building fuzz-$name"
		"$cc" "${cflags[@]}" "${pkg_cflags[@]}" -fsanitize=fuzzer "$san" "$fuzzdir/fuzz-$name.c" \
			"$out/libvr-fuzz.a" "${pkg_libs[@]}" -lm -o "$bin"
	fi
}

# The host config, ledger and calibration writers sync what they write (atomic
# replace): on tmpfs that costs nothing, on a disk it would bound the harness. One
# directory for the run, removed at its end: a harness that faults cannot remove its own.
if [[ -z ${TMPDIR:-} ]]; then
	shm=/dev/shm
	[[ -d $shm && -w $shm ]] || shm=/tmp
	TMPDIR=$(mktemp -d "$shm/vr-fuzz.XXXXXX")
	export TMPDIR
	trap 'rm -rf "$TMPDIR"' EXIT
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export G_DEBUG=fatal-criticals

# Seeds from the test data: what the tests feed each parser.
seed() {
	local name=$1 dir=$out/seeds/$1 f i=0
	rm -rf "$dir"
	mkdir -p "$dir"
	case $name in
	apply)
		for f in "$src"/tests/data/{xml,render,drift,spec}/*.xml; do
			cp "$f" "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
		done
		;;
	hostconf)
		for f in "$src"/tests/data/{xml,render,drift,tune,hook-plan,guarantee,hook}/*.conf; do
			[[ -f $f ]] && cp "$f" "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
		done
		;;
	spec)
		cp "$src"/tests/data/spec/*.json "$src"/tests/data/spec/*.spec "$dir/"
		;;
	ledger)
		cp "$fuzzdir"/seeds/ledger/* "$dir/"
		;;
	units)
		# Attribute and key values of the test data, each behind the selector byte of
		# the parser that reads it (fuzz-units.c): 0 duration, 1 rate, 2 CLI rate,
		# 3 bit rate, 4 fraction, 5 integer, 6 boolean, 7 CPU list.
		local sel key
		for pair in 0:delay 0:runtime 0:period 0:deadline 0:sched-runtime 0:tick 0:vcpu-packet-cost \
			1:rate 3:bandwidth 4:deadline-cap 4:margin 4:vcpu-idle 5:vlan 5:queue 5:shares 5:burst \
			5:priority 6:debug 6:spoofchk 6:trust 7:cpus 7:housekeeping 7:router-cpus 7:housekeeping-cpus; do
			sel=${pair%%:*} key=${pair#*:}
			{ grep -rhoE "(^|[ \"'])$key(=| = )['\"]?[^'\" ]+" "$src"/tests/data/{xml,render,guarantee,drift} || true; } |
				sed -E "s/^.*$key(=| = )['\"]?//" | sort -u | head -n 40 |
				while read -r v; do
					i=$((i + 1))
					printf "\\x$(printf %02x "$sel")%s" "$v" >"$dir/$key-$i"
				done
		done
		for v in 20k 1.5M 50000 0.5M; do printf '\x02%s' "$v" >"$dir/cli-$v"; done
		;;
	esac
}

build_lib
for name in "${harnesses[@]}"; do
	[[ -f $fuzzdir/fuzz-$name.c ]] || { echo "fuzz: no harness '$name' (${all_harnesses[*]})" >&2; exit 2; }
	build_harness "$name"
done
[[ $mode == build ]] && exit 0

if [[ $mode == merge ]]; then
	# Committed corpus + what runs found + the test data, minimised into the corpus.
	for name in "${harnesses[@]}"; do
		seed "$name"
		new=$out/merged/$name
		rm -rf "$new"
		mkdir -p "$new" "$out/corpus/$name" "$fuzzdir/corpus/$name"
		"$out/fuzz-$name" -merge=1 -dict="$fuzzdir/$name.dict" "$new" "$fuzzdir/corpus/$name" \
			"$out/corpus/$name" "$out/seeds/$name" >"$out/merge-$name.log" 2>&1 ||
			{ tail -n 30 "$out/merge-$name.log"; exit 1; }
		rm -rf "$fuzzdir/corpus/$name"
		mv "$new" "$fuzzdir/corpus/$name"
		echo "fuzz-$name: corpus $(find "$fuzzdir/corpus/$name" -type f | wc -l) files," \
			"$(du -sh "$fuzzdir/corpus/$name" | cut -f1) ($(grep -o 'cov: [0-9]*' "$out/merge-$name.log" | tail -n1))"
	done
	exit 0
fi

status=0
read -ra extra <<<"${FUZZ_ARGS:-}"
for name in "${harnesses[@]}"; do
	corpus=$out/corpus/$name log=$out/fuzz-$name.log
	mkdir -p "$corpus" "$out/crashes"
	[[ -d $fuzzdir/corpus/$name ]] || seed "$name"
	echo "fuzz-$name: ${seconds}s ..."
	start=$(date +%s)
	touch "$out/.start-$name"
	rc=0
	# -rss_limit_mb, -timeout: the defaults (2 GB, 20 min) would let one input take the
	# machine's memory or the whole run.
	"$out/fuzz-$name" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=1024 -timeout=25 \
		-dict="$fuzzdir/$name.dict" -artifact_prefix="$out/crashes/$name-" "${extra[@]}" \
		"$corpus" "$([[ -d $fuzzdir/corpus/$name ]] && echo "$fuzzdir/corpus/$name" || echo "$out/seeds/$name")" \
		>"$log" 2>&1 || rc=$?
	took=$(($(date +%s) - start))
	# The last status line: "#N ... cov: C ft: F corp: U/S ..." (or fork mode's "#N: cov: ...").
	last=$(grep -E '^#[0-9]+:?[[:space:]].*cov: ' "$log" | tail -n1 || true)
	execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -n1 || true)
	[[ -n $execs ]] || execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
	cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | awk '{print $2}' || true)
	ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | awk '{print $2}' || true)
	corp=$(grep -oE 'corp(us)?: [0-9]+' <<<"$last" | awk '{print $2}' || true)
	crashes=$(find "$out/crashes" -name "$name-*" -newer "$out/.start-$name" | wc -l)
	printf 'fuzz-%s: %ss, %s execs (%s/s), cov %s, ft %s, corpus %s' "$name" "$took" "${execs:-?}" \
		"$(( ${execs:-0} / (took > 0 ? took : 1) ))" "${cov:-?}" "${ft:-?}" "${corp:-?}"
	if ((rc != 0 || crashes > 0)) || grep -qE '^(==[0-9]+==ERROR|SUMMARY: |vr-fuzz: oracle failed)' "$log"; then
		echo ": FAULT (exit $rc, $crashes crash files), see $log"
		find "$out/crashes" -name "$name-*" -newer "$out/.start-$name" | sed 's/^/    /'
		grep -E 'ERROR:|runtime error|oracle failed|Test unit written to' "$log" | head -n 10 | sed 's/^/    /'
		status=1
	else
		echo ": no fault"
	fi
done
exit "$status"

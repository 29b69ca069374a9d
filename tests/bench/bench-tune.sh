#!/usr/bin/env bash
# bench-tune.sh: how fast and how cheap virt-router-tune is.  Not a test: it
# prints figures, checks them against the targets and exits 0 when all are
# met, 1 when one is not (with the reason), 2 on a usage error, 3 when it
# cannot run here (not root, binaries missing, a step failed).
#
#   a) latency: fake-qemu creates BENCH_THREADS "vhost-PID" threads one after
#      the other; each polls its own policy and affinity until the tuner has
#      made it SCHED_FIFO on the planned CPU.  Target: p99 <= 5 ms.
#   b) idle CPU: the tuner attached to an idle fake-qemu (no thread created)
#      for BENCH_IDLE_SECONDS; utime+stime from /proc/PID/stat.  Target:
#      <= 0.1% of a core.  The process-event connector delivers every fork,
#      exec, comm change and exit on the machine to the tuner, so the host's
#      own process churn during the window is printed with it.
#   c) memory: the tuner's VmRSS at the end of a) (and its peak, VmHWM).
#      Target: <= 4096 KiB.
#   d) one machine-readable line "BENCH-SUMMARY key=value ..." at the end,
#      or with --json a JSON object as the last line.
#
# Usage: tests/bench/bench-tune.sh [--json] [--keep-csv FILE]
# Environment:
#   top_srcdir, top_builddir   trees (default: this script's ../.. and ../../build)
#   VIRT_ROUTER, VIRT_ROUTER_TUNE, FAKE_QEMU binaries (default: in top_builddir; fake-qemu
#                               is built with `make tests/fake-qemu` if missing)
#   BENCH_THREADS        threads created in a) (default 1000)
#   BENCH_TIMEOUT_MS     a thread not tuned within this counts as a timeout (200)
#   BENCH_IDLE_SECONDS   length of b) (default 60)
#   BENCH_STATE_DIR      parent of the tuner's state dir (default /run, as on a
#                        real host: the tuner writes its state on every event)
#   BENCH_TARGET_P99_US, BENCH_TARGET_IDLE_PCT, BENCH_TARGET_RSS_KIB  targets
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
top_builddir=${top_builddir:-$top_srcdir/build}
VIRT_ROUTER_TUNE=${VIRT_ROUTER_TUNE:-$top_builddir/virt-router-tune}
VIRT_ROUTER=${VIRT_ROUTER:-$top_builddir/virt-router}
FAKE_QEMU=${FAKE_QEMU:-$top_builddir/tests/fake-qemu}
BENCH_THREADS=${BENCH_THREADS:-1000}
BENCH_TIMEOUT_MS=${BENCH_TIMEOUT_MS:-200}
BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60}
BENCH_STATE_DIR=${BENCH_STATE_DIR:-/run}
BENCH_TARGET_P99_US=${BENCH_TARGET_P99_US:-5000}
BENCH_TARGET_IDLE_PCT=${BENCH_TARGET_IDLE_PCT:-0.1}
BENCH_TARGET_RSS_KIB=${BENCH_TARGET_RSS_KIB:-4096}

json=0
keep_csv=
while (($#)); do
	case "$1" in
	--json) json=1 ;;
	--keep-csv)
		[[ $# -ge 2 ]] || { echo "bench-tune: --keep-csv needs a FILE" >&2; exit 2; }
		keep_csv=$2
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench-tune: unknown argument '$1' (try --help)" >&2
		exit 2
		;;
	esac
	shift
done
for v in BENCH_THREADS BENCH_TIMEOUT_MS BENCH_IDLE_SECONDS BENCH_TARGET_P99_US BENCH_TARGET_RSS_KIB; do
	if [[ ! "${!v}" =~ ^[0-9]+$ ]] || ((${!v} < 1)); then
		echo "bench-tune: $v='${!v}': expected a positive integer" >&2
		exit 2
	fi
done

cannot() {
	echo "bench-tune: cannot run: $*" >&2
	exit 3
}

[[ $EUID -eq 0 ]] || cannot "needs root (SCHED_FIFO, cpu cgroups, the process-event connector)"
[[ -x "$VIRT_ROUTER_TUNE" ]] || cannot "$VIRT_ROUTER_TUNE not built (make -C $top_builddir)"
if [[ ! -x "$FAKE_QEMU" ]]; then
	make -s -C "$top_builddir" tests/fake-qemu >&2 || cannot "$FAKE_QEMU not built and make tests/fake-qemu failed"
fi
(($(nproc) >= 2)) || cannot "needs at least 2 CPUs (the plan puts the vCPU on CPU 0 and vhost on CPU 1)"

rt_group=/sys/fs/cgroup/cpu/virt-router-rt
rt_group_before=0
[[ -d $rt_group ]] && rt_group_before=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-tune.XXXXXX")
state_dir=$(mktemp -d "$BENCH_STATE_DIR/bench-tune-state.XXXXXX")
conf=$tmp/host.conf # empty host config: no local config changes the plan
: >"$conf"
fq_pids=()    # fake-qemus started, stopped by cleanup
tuner_pids=() # tuners started, stopped by cleanup
go_fd=
sleep_pid=

# True while PID runs (a child that exited stays a zombie until waited for).
# Builtins only: every process this script forks is an event for the tuner.
running() {
	local stat state
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	state=${stat##*) }
	state=${state%% *}
	[[ "$state" != Z && "$state" != X ]]
}

# SIGTERM to each PID, SIGKILL to those still there after 5 s, then reap.
stop_pids() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		for _ in $(seq 50); do
			running "$pid" || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

cleanup() {
	trap '' INT TERM
	if [[ -n "$sleep_pid" ]]; then
		kill "$sleep_pid" 2>/dev/null || true
	fi
	if [[ -n "$go_fd" ]]; then
		exec {go_fd}>&-
	fi
	# fake-qemus first: their tuners then exit by themselves and clean up.
	stop_pids "${fq_pids[@]}"
	stop_pids "${tuner_pids[@]}"
	if ((!rt_group_before)) && [[ -d $rt_group && ! -s $rt_group/tasks ]]; then
		rmdir "$rt_group" 2>/dev/null || true
	fi
	rm -rf "$tmp" "$state_dir"
}
trap cleanup EXIT
trap 'exit 3' INT TERM

log() {
	echo "# $*" >&2
}

# The router: one vCPU, dedicated CPUs 0-1, vhost workers FIFO 10.
cat >"$tmp/bench.xml" <<'EOF'
<domain type='qemu'>
  <name>bench</name>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static'>1</vcpu>
  <metadata>
    <vr:router xmlns:vr='urn:virt-router:1'>
      <vr:cpu placement='dedicated' cpus='0-1'/>
      <vr:sched threads='vhost' class='fifo' priority='10'/>
    </vr:router>
  </metadata>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
</domain>
EOF
# The tuner reads a spec, as the hook hands it one (each run's --pid overrides its pid).
"$VIRT_ROUTER" spec --xml "$tmp/bench.xml" --pid 1 --config "$conf" >"$tmp/bench.spec.json" ||
	cannot "virt-router spec --xml $tmp/bench.xml failed"

# Starts fake-qemu with ARGS, stdin from $tmp/NAME.in (a FIFO kept open by
# this shell on go_fd when NAME is "bench"), stdout to $tmp/NAME.out; waits for
# READY; sets fq_pid.
start_fake_qemu() {
	local name=$1 deadline
	shift
	if [[ "$name" == bench ]]; then
		mkfifo "$tmp/$name.in"
		exec {go_fd}<>"$tmp/$name.in"
		"$FAKE_QEMU" "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	else
		"$FAKE_QEMU" "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
	fi
	fq_pid=$!
	fq_pids+=("$fq_pid")
	deadline=$((SECONDS + 10))
	until grep -q '^READY ' "$tmp/$name.out"; do
		running "$fq_pid" || cannot "fake-qemu $*: $(cat "$tmp/$name.err")"
		((SECONDS < deadline)) || cannot "fake-qemu $*: no READY within 10 s"
		sleep 0.02
	done
}

# Starts the tuner for fake-qemu fq_pid with ARGS; waits until it has written
# its state and pid file (it is then subscribed to events); sets tune_pid.
start_tuner() {
	local name=$1 deadline
	shift
	"$VIRT_ROUTER_TUNE" -d bench --pid "$fq_pid" --spec "$tmp/bench.spec.json" --state-dir "$state_dir" \
		--config "$conf" "$@" >"$tmp/$name.tune.log" 2>&1 &
	tune_pid=$!
	tuner_pids+=("$tune_pid")
	deadline=$((SECONDS + 10))
	until [[ -f "$state_dir/bench.json" && -f "$state_dir/bench.tuner.pid" ]]; do
		running "$tune_pid" || cannot "virt-router-tune exited: $(cat "$tmp/$name.tune.log")"
		((SECONDS < deadline)) || cannot "virt-router-tune wrote no state within 10 s"
		sleep 0.02
	done
}

# Waits for PID (a child) to exit; returns its status.
wait_exit() {
	local rc=0
	wait "$1" || rc=$?
	return $rc
}

# The value of KEY in the state file's thread with ROLE (string or null).
state_thread_field() {
	local role=$1 key=$2
	awk -v role="\"$role\"" -v key="\"$key\"" '
		/^    \{/ { inth = 1; r = ""; v = "" }
		inth && $1 == "\"role\":" { r = $2; sub(/,$/, "", r) }
		inth && $1 == key ":" { v = $2; sub(/,$/, "", v) }
		/^    \}/ { if (r == role) { gsub(/"/, "", v); print v; exit } inth = 0 }
	' "$state_dir/bench.json"
}

# Sets rss_kib, hwm_kib, rss_anon_kib, rss_file_kib from /proc/PID/status when
# it is still there (builtins only, as in running()).
sample_memory() {
	local k v rss='' hwm='' anon='' file=''
	while read -r k v _; do
		case "$k" in
		VmRSS:) rss=$v ;;
		VmHWM:) hwm=$v ;;
		RssAnon:) anon=$v ;;
		RssFile:) file=$v ;;
		esac
	done 2>/dev/null <"/proc/$1/status" || true
	if [[ -n "$rss" ]]; then
		rss_kib=$rss hwm_kib=$hwm rss_anon_kib=$anon rss_file_kib=$file
	fi
}

rss_of() {
	awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null
}

cpu_ticks_of() {
	local stat rest
	stat=$(cat "/proc/$1/stat") || return 1
	rest=${stat##*) }
	# shellcheck disable=SC2086
	set -- $rest
	# utime and stime are fields 14 and 15; $1 here is field 3.
	echo $((${12} + ${13}))
}

# Run time of every thread of PID in ns (scheduler statistics, finer than ticks).
cpu_ns_of() {
	local t sum=0 ns
	for t in /proc/"$1"/task/*/schedstat; do
		read -r ns _ <"$t" 2>/dev/null || continue
		sum=$((sum + ns))
	done
	echo "$sum"
}

kernel=$(uname -r)
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ncpu=$(nproc)
echo "kernel: $kernel"
echo "cpu: $cpu_model ($ncpu CPUs)"
state_fs=$(df --output=fstype "$state_dir" 2>/dev/null | tail -n 1 || stat -f -c %T "$state_dir")
echo "tuner: $VIRT_ROUTER_TUNE"
echo "state dir: $state_dir ($state_fs; the tuner rewrites its state file on every thread event)"

# ---- plan probe: where does the tuner put a vhost thread of this domain? ----
start_fake_qemu probe --vcpus 1 --tcg --vhost 1
"$VIRT_ROUTER_TUNE" -d bench --pid "$fq_pid" --spec "$tmp/bench.spec.json" --state-dir "$state_dir" \
	--config "$conf" --once >"$tmp/probe.tune.log" 2>&1 ||
	cannot "virt-router-tune --once: $(cat "$tmp/probe.tune.log")"
vhost_cpus=$(state_thread_field vhost0 cpus)
vhost_class=$(state_thread_field vhost0 class)
vcpu_cpus=$(state_thread_field vcpu0 cpus)
kill -TERM "$fq_pid"
wait_exit "$fq_pid" || true
rm -f "$state_dir/bench.json"
[[ -n "$vhost_cpus" && "$vhost_class" == fifo ]] ||
	cannot "the tuner's plan for vhost0 is cpus='$vhost_cpus' class='$vhost_class', expected a CPU and fifo"
expect_cpus=$vhost_cpus
if [[ "$vhost_cpus" != 1 ]]; then
	echo "note: the plan puts vhost0 on CPU $vhost_cpus, not CPU 1 as expected (vCPU0 on $vcpu_cpus); measuring against the plan"
fi
echo "plan: vcpu0 -> CPU $vcpu_cpus, vhost0 -> CPU $vhost_cpus class $vhost_class priority 10"

# ---- a) latency --------------------------------------------------------------
start_fake_qemu bench --vcpus 1 --tcg --bench "$BENCH_THREADS" --expect-policy fifo \
	--expect-cpus "$expect_cpus" --timeout-ms "$BENCH_TIMEOUT_MS" --csv "$tmp/latency.csv"
bench_pid=$fq_pid
start_tuner latency
latency_tuner=$tune_pid
log "latency: $BENCH_THREADS threads, fake-qemu $bench_pid, tuner $latency_tuner"
echo go >&"$go_fd"
# The tuner exits with fake-qemu: sample its memory until then.
rss_kib=
hwm_kib=
rss_anon_kib=
rss_file_kib=
deadline=$((SECONDS + BENCH_THREADS * BENCH_TIMEOUT_MS / 1000 + 120))
while running "$bench_pid"; do
	sample_memory "$latency_tuner"
	((SECONDS < deadline)) || cannot "fake-qemu --bench still running after $((BENCH_THREADS * BENCH_TIMEOUT_MS / 1000 + 120)) s"
	sleep 0.1
done
bench_rc=0
wait_exit "$bench_pid" || bench_rc=$?
exec {go_fd}>&-
go_fd=
line=$(grep '^BENCH ' "$tmp/bench.out" || true)
[[ -n "$line" ]] || cannot "fake-qemu --bench printed no result (status $bench_rc): $(cat "$tmp/bench.err")"
field() { sed -n "s/.* $1=\([-0-9]*\).*/\1/p" <<<"$line"; }
count=$(field count)
ok=$(field ok)
timeouts=$(field timeouts)
median=$(field median_us)
p99=$(field p99_us)
max=$(field max_us)
[[ -n "$keep_csv" ]] && cp "$tmp/latency.csv" "$keep_csv"
echo "tune latency: threads=$count median=$median us p99=$p99 us max=$max us timeouts=$timeouts (target p99 <= $BENCH_TARGET_P99_US us)"
if ((timeouts > 0)); then
	echo "  $timeouts of $count threads were not tuned within $BENCH_TIMEOUT_MS ms; first ones (index,tid,latency_us):"
	grep -- ',-1$' "$tmp/latency.csv" | head -n 5 | sed 's/^/    /'
fi
# What the tuner did with each thread, from its log ("vhost0 (tid N, ...): CPUs 1,
# class fifo"): every bench thread is the only vhost thread alive, so all should
# be vhost0 on the planned CPU.
roles=$(grep -oE "'bench': vhost[0-9]+ \(tid [0-9]+, '[^']*'\): CPUs [^ ]+" "$tmp/latency.tune.log" |
	sed -E 's/.* (vhost[0-9]+) .*CPUs ([^ ]*),$/\1 on CPU \2/' | sort | uniq -c |
	awk '{c = $1; $1 = ""; printf "%s%s x%d", sep, substr($0, 2), c; sep = ", "}')
tuner_errors=$(grep -cE "cannot|refused|error" "$tmp/latency.tune.log" || true)
echo "  the tuner placed: ${roles:-nothing}; error lines in its log: $tuner_errors"
# The tuner must have gone with its process, leaving no state behind.
for _ in $(seq 50); do
	running "$latency_tuner" || break
	sleep 0.1
done
tuner_rc=0
if ! running "$latency_tuner"; then
	wait_exit "$latency_tuner" || tuner_rc=$?
	tuner_exit="exited $tuner_rc"
else
	tuner_exit="still running 5 s after its process exited"
fi
leftovers=$(cd "$state_dir" && echo *)
[[ "$leftovers" == "*" ]] && leftovers=
if ((!rt_group_before)) && [[ -d $rt_group ]]; then
	leftovers+=" $rt_group"
fi
echo "  tuner after the run: $tuner_exit${leftovers:+, left behind: $leftovers}"

# ---- c) memory ---------------------------------------------------------------
echo "tune RSS: ${rss_kib:-?} KiB (target <= $BENCH_TARGET_RSS_KIB KiB)"
echo "  peak VmHWM ${hwm_kib:-?} KiB; of the RSS: anonymous ${rss_anon_kib:-?} KiB, file-backed (shared libraries) ${rss_file_kib:-?} KiB"

# ---- b) idle CPU -------------------------------------------------------------
start_fake_qemu idle --vcpus 1 --tcg --vhost 1
idle_qemu=$fq_pid
start_tuner idle
idle_tuner=$tune_pid
sleep 1 # let the start-up settle
log "idle: tuner $idle_tuner on idle fake-qemu $idle_qemu for $BENCH_IDLE_SECONDS s"
hz=$(getconf CLK_TCK)
forks0=$(awk '$1 == "processes" {print $2}' /proc/stat)
ticks0=$(cpu_ticks_of "$idle_tuner")
ns0=$(cpu_ns_of "$idle_tuner")
t0=$(date +%s%N)
# In the background: a signal then interrupts `wait` and the trap cleans up at once.
sleep "$BENCH_IDLE_SECONDS" &
sleep_pid=$!
wait "$sleep_pid"
sleep_pid=
ticks1=$(cpu_ticks_of "$idle_tuner")
ns1=$(cpu_ns_of "$idle_tuner")
t1=$(date +%s%N)
forks1=$(awk '$1 == "processes" {print $2}' /proc/stat)
idle_rss=$(rss_of "$idle_tuner" VmRSS)
elapsed_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
idle_pct=$(awk -v d=$((ticks1 - ticks0)) -v hz="$hz" -v a="$t0" -v b="$t1" \
	'BEGIN {printf "%.3f", 100 * d / hz / ((b - a) / 1e9)}')
idle_pct_ns=$(awk -v d=$((ns1 - ns0)) -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", 100 * d / (b - a)}')
forks=$((forks1 - forks0))
fork_rate=$(awk -v n="$forks" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / ((b - a) / 1e9)}')
echo "tune idle CPU: $idle_pct% of a core over $elapsed_s s (target <= $BENCH_TARGET_IDLE_PCT%)"
echo "  $((ticks1 - ticks0)) ticks of 1/$hz s; scheduler run time $(((ns1 - ns0) / 1000)) us = $idle_pct_ns%;" \
	"host created $forks processes/threads meanwhile ($fork_rate/s), each an event for the tuner; RSS $idle_rss KiB"
kill -TERM "$idle_qemu"
wait_exit "$idle_qemu" || true
for _ in $(seq 50); do
	running "$idle_tuner" || break
	sleep 0.1
done
wait_exit "$idle_tuner" || true

# ---- d) verdict and summary ----------------------------------------------------
reasons=()
if ((timeouts > 0)); then
	reasons+=("latency: $timeouts of $count threads not tuned within $BENCH_TIMEOUT_MS ms")
fi
if ((ok == 0)) || ((p99 > BENCH_TARGET_P99_US)); then
	reasons+=("latency: p99 $p99 us > $BENCH_TARGET_P99_US us")
fi
if ((count < 1000)); then
	reasons+=("latency: only $count threads measured (the target is over >= 1000)")
fi
if awk -v x="$idle_pct" -v t="$BENCH_TARGET_IDLE_PCT" 'BEGIN {exit !(x > t)}'; then
	reasons+=("idle CPU: $idle_pct% > $BENCH_TARGET_IDLE_PCT% (host process churn: $fork_rate/s)")
fi
if [[ -z "$rss_kib" ]] || ((rss_kib > BENCH_TARGET_RSS_KIB)); then
	reasons+=("RSS: ${rss_kib:-unknown} KiB > $BENCH_TARGET_RSS_KIB KiB")
fi
if [[ "$tuner_exit" != "exited 0" || -n "$leftovers" ]]; then
	reasons+=("tuner after its process exited: $tuner_exit${leftovers:+, left behind: $leftovers}")
fi
result=PASS
((${#reasons[@]} == 0)) || result=FAIL

summary="BENCH-SUMMARY result=$result kernel=$kernel cpus=$ncpu threads=$count ok=$ok timeouts=$timeouts"
summary+=" median_us=$median p99_us=$p99 max_us=$max idle_pct=$idle_pct idle_pct_schedstat=$idle_pct_ns"
summary+=" idle_s=$elapsed_s host_forks_per_s=$fork_rate rss_kib=${rss_kib:-} hwm_kib=${hwm_kib:-}"
summary+=" rss_anon_kib=${rss_anon_kib:-} rss_file_kib=${rss_file_kib:-} vhost_cpus=$expect_cpus state_fs=$state_fs"
for r in "${reasons[@]}"; do
	echo "target missed: $r"
done
echo "$summary"
if ((json)); then
	jstr() {
		local v=${1//\\/\\\\}
		printf '"%s"' "${v//\"/\\\"}"
	}
	printf '{"result":%s,"kernel":%s,"cpu_model":%s,"cpus":%d,"state_fs":%s,' \
		"$(jstr $result)" "$(jstr "$kernel")" "$(jstr "$cpu_model")" "$ncpu" "$(jstr "$state_fs")"
	printf '"latency":{"threads":%d,"ok":%d,"timeouts":%d,"median_us":%d,"p99_us":%d,"max_us":%d,"vhost_cpus":%s,"target_p99_us":%d},' \
		"$count" "$ok" "$timeouts" "$median" "$p99" "$max" "$(jstr "$expect_cpus")" "$BENCH_TARGET_P99_US"
	printf '"idle":{"seconds":%s,"cpu_pct":%s,"cpu_pct_schedstat":%s,"host_forks_per_s":%s,"target_pct":%s},' \
		"$elapsed_s" "$idle_pct" "$idle_pct_ns" "$fork_rate" "$BENCH_TARGET_IDLE_PCT"
	printf '"memory":{"rss_kib":%s,"hwm_kib":%s,"rss_anon_kib":%s,"rss_file_kib":%s,"target_kib":%d},' \
		"${rss_kib:-null}" "${hwm_kib:-null}" "${rss_anon_kib:-null}" "${rss_file_kib:-null}" "$BENCH_TARGET_RSS_KIB"
	printf '"reasons":['
	sep=
	for r in "${reasons[@]}"; do
		printf '%s%s' "$sep" "$(jstr "$r")"
		sep=,
	done
	printf ']}\n'
fi
[[ $result == PASS ]]

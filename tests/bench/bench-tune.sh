#!/usr/bin/env bash
# bench-tune.sh: how fast and how cheap virt-router-tune is, beside what a user
# would run instead.  Not a test: it prints figures, checks them against the
# targets and exits 0 when all are met, 1 when one is not (with the reason), 2 on
# a usage error, 3 when it cannot run here (not root, binaries or python3
# missing, a step failed).
#
# The router: one vCPU, dedicated CPUs 0-1, vhost workers FIFO 10.  fake-qemu
# creates "vhost-PID" threads one at a time; each polls its own policy, affinity
# and cpu cgroup, and records the time from just before it was created until it is
# SCHED_FIFO on the planned CPU ("class": affinity and class, the part that
# matters), and until it is in the tuner's RT group /virt-router-rt ("cgroup": on
# cgroup v1 with CONFIG_RT_GROUP_SCHED; elsewhere there is no move).
#
#   a) back to back: BENCH_THREADS threads, each created as soon as the last one
#      was tuned.  Target: class p99 <= 5 ms.
#   b) lone arrivals: BENCH_LONE_THREADS threads, each after a random pause of
#      BENCH_LONE_PAUSE_MS (uniform, from the moment the last one was done, the
#      same pauses for every process of the run).  A lone thread's move into a
#      v1 cgroup waits for an RCU grace period (the threadgroup rwsem's writer
#      side, warm only just after another move): milliseconds.  The tuner sets
#      affinity and class first and moves the thread last, where its class allows
#      (it is born in a group with RT budget, as here).  Target: class p99 <= 1 ms.
#      The time each new thread waited to run at all is printed with the rest
#      (QEMU's threads name themselves when they start: no watcher can tell a
#      vhost worker before); on a busy host, or a VM whose idle vCPUs must be
#      woken, that wait is most of a lone thread's time.
#      Then in the same run, on the same pauses, its peer: tests/bench/peer-poll.py,
#      a polling loop as a user writes it (every N ms list /proc/PID/task, give
#      new "vhost-" threads their CPUs and FIFO), once per interval of
#      BENCH_PEER_INTERVALS_MS (default 100: a typical loop; 10: an aggressive
#      one), each watching its own fake-qemu, side by side (not beside the
#      tuner's run: their waiting threads would take CPU time from it).
#      Ratios tuner/peer of the class median and p99 with 95% bootstrap
#      intervals (tests/bench/tune-stats.py).
#   c) lone arrivals born without RT budget: BENCH_NOBUDGET_THREADS threads of a
#      fake-qemu started in a cpu cgroup with cpu.rt_runtime_us 0, as libvirt's
#      machine groups are.  There the kernel refuses FIFO until the thread is in
#      the RT group, so the class waits for the move: printed, not a target
#      (virt-router-tune(8) says what a host can do).  0 skips it; skipped where
#      the kernel has no RT group scheduling.
#   d) idle CPU: the tuner and each peer attached to an idle fake-qemu of their
#      own for BENCH_IDLE_SECONDS, at the same time; run time from schedstat
#      (and the tuner's utime+stime).  Target for the tuner: <= 0.1% of a core.
#      The process-event connector delivers every fork, exec, comm change and
#      exit on the machine to the tuner, so the host's own process churn during
#      the window is printed with it.
#   e) memory: the tuner's VmRSS at the end of a) (and its peak, VmHWM); the
#      peers' for comparison.  Target for the tuner: <= 4096 KiB.
#   f) one machine-readable line "BENCH-SUMMARY key=value ..." at the end, or
#      with --json a JSON object as the last line, with every figure above.
#
# Usage: tests/bench/bench-tune.sh [--json] [--keep-csv DIR]
# Environment:
#   top_srcdir, top_builddir   trees (default: this script's ../.. and ../../build)
#   VIRT_ROUTER, VIRT_ROUTER_TUNE, FAKE_QEMU binaries (default: in top_builddir; fake-qemu
#                               is built with `make tests/fake-qemu` if missing)
#   BENCH_THREADS        threads in a) (default 1000)
#   BENCH_LONE_THREADS   threads in b) (default 400; at least 100 for a p99)
#   BENCH_LONE_PAUSE_MS  pauses in b) and c), MIN-MAX ms (default 20-220: a span
#                        that is a multiple of the 100 ms peer's interval, so that
#                        arrivals fall evenly within its period)
#   BENCH_NOBUDGET_THREADS threads in c) (default 100; 0: skip c)
#   BENCH_PEER_INTERVALS_MS poll intervals of the peers (default "100 10")
#   BENCH_SEED           seed of the pauses and of the bootstrap (default 1)
#   BENCH_RESAMPLES      bootstrap resamples (default 2000)
#   BENCH_TIMEOUT_MS     a thread not tuned within this counts as a timeout (1000;
#                        a peer's timeouts are its figures, left out of its percentiles)
#   BENCH_IDLE_SECONDS   length of d) (default 60)
#   BENCH_STATE_DIR      parent of the tuner's state dir (default /run, as on a
#                        real host: the tuner writes its state on every event)
#   BENCH_TARGET_P99_US, BENCH_TARGET_LONE_P99_US, BENCH_TARGET_IDLE_PCT,
#   BENCH_TARGET_RSS_KIB targets (5000, 1000, 0.1, 4096)
# shellcheck disable=SC2154,SC2034 # each run's figures (b2b_p99, ...) are set with printf -v, read with ${!name}
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=$(cd "${top_srcdir:-$here/../..}" && pwd)
top_builddir=${top_builddir:-$top_srcdir/build}
VIRT_ROUTER_TUNE=${VIRT_ROUTER_TUNE:-$top_builddir/virt-router-tune}
VIRT_ROUTER=${VIRT_ROUTER:-$top_builddir/virt-router}
FAKE_QEMU=${FAKE_QEMU:-$top_builddir/tests/fake-qemu}
BENCH_THREADS=${BENCH_THREADS:-1000}
BENCH_LONE_THREADS=${BENCH_LONE_THREADS:-400}
BENCH_LONE_PAUSE_MS=${BENCH_LONE_PAUSE_MS:-20-220}
BENCH_NOBUDGET_THREADS=${BENCH_NOBUDGET_THREADS:-100}
BENCH_PEER_INTERVALS_MS=${BENCH_PEER_INTERVALS_MS:-100 10}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_RESAMPLES=${BENCH_RESAMPLES:-2000}
BENCH_TIMEOUT_MS=${BENCH_TIMEOUT_MS:-1000}
BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-60}
BENCH_STATE_DIR=${BENCH_STATE_DIR:-/run}
BENCH_TARGET_P99_US=${BENCH_TARGET_P99_US:-5000}
BENCH_TARGET_LONE_P99_US=${BENCH_TARGET_LONE_P99_US:-1000}
BENCH_TARGET_IDLE_PCT=${BENCH_TARGET_IDLE_PCT:-0.1}
BENCH_TARGET_RSS_KIB=${BENCH_TARGET_RSS_KIB:-4096}

json=0
keep_csv=
while (($#)); do
	case "$1" in
	--json) json=1 ;;
	--keep-csv)
		[[ $# -ge 2 ]] || { echo "bench-tune: --keep-csv needs a DIR" >&2; exit 2; }
		keep_csv=$2
		shift
		;;
	-h | --help)
		sed -n '2,/^# shellcheck/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "bench-tune: unknown argument '$1' (try --help)" >&2
		exit 2
		;;
	esac
	shift
done
for v in BENCH_THREADS BENCH_LONE_THREADS BENCH_TIMEOUT_MS BENCH_IDLE_SECONDS BENCH_TARGET_P99_US \
	BENCH_TARGET_LONE_P99_US BENCH_TARGET_RSS_KIB BENCH_RESAMPLES; do
	if [[ ! "${!v}" =~ ^[0-9]+$ ]] || ((${!v} < 1)); then
		echo "bench-tune: $v='${!v}': expected a positive integer" >&2
		exit 2
	fi
done
for v in BENCH_NOBUDGET_THREADS BENCH_SEED; do
	if [[ ! "${!v}" =~ ^[0-9]+$ ]]; then
		echo "bench-tune: $v='${!v}': expected a number >= 0" >&2
		exit 2
	fi
done
if [[ ! "$BENCH_LONE_PAUSE_MS" =~ ^([0-9]+)-([0-9]+)$ ]] || ((BASH_REMATCH[1] > BASH_REMATCH[2])); then
	echo "bench-tune: BENCH_LONE_PAUSE_MS='$BENCH_LONE_PAUSE_MS': expected MIN-MAX in ms, e.g. 20-220" >&2
	exit 2
fi
read -r -a peer_intervals <<<"$BENCH_PEER_INTERVALS_MS"
((${#peer_intervals[@]} > 0)) || { echo "bench-tune: BENCH_PEER_INTERVALS_MS is empty" >&2; exit 2; }
for i in "${peer_intervals[@]}"; do
	if [[ ! "$i" =~ ^[0-9]+$ ]] || ((i < 1)); then
		echo "bench-tune: BENCH_PEER_INTERVALS_MS: '$i': expected intervals in ms, e.g. \"100 10\"" >&2
		exit 2
	fi
done

cannot() {
	echo "bench-tune: cannot run: $*" >&2
	exit 3
}

[[ $EUID -eq 0 ]] || cannot "needs root (SCHED_FIFO, cpu cgroups, the process-event connector)"
[[ -x "$VIRT_ROUTER_TUNE" ]] || cannot "$VIRT_ROUTER_TUNE not built (make -C $top_builddir)"
command -v python3 >/dev/null || cannot "needs python3 (the peer and the statistics)"
if [[ ! -x "$FAKE_QEMU" ]]; then
	make -s -C "$top_builddir" tests/fake-qemu >&2 || cannot "$FAKE_QEMU not built and make tests/fake-qemu failed"
fi
(($(nproc) >= 2)) || cannot "needs at least 2 CPUs (the plan puts the vCPU on CPU 0 and vhost on CPU 1)"

cpu_mount=/sys/fs/cgroup/cpu
rt_group=$cpu_mount/virt-router-rt
rt_group_before=0
[[ -d $rt_group ]] && rt_group_before=1
# The tuner moves FIFO threads into its RT group only where RT tasks need group
# budget: cgroup v1 with CONFIG_RT_GROUP_SCHED.
expect_cgroup=
[[ -e $cpu_mount/cpu.rt_runtime_us ]] && expect_cgroup=/virt-router-rt
nobudget_group=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-tune.XXXXXX")
state_dir=$(mktemp -d "$BENCH_STATE_DIR/bench-tune-state.XXXXXX")
conf=$tmp/host.conf # empty host config: no local config changes the plan
: >"$conf"
fq_pids=()    # fake-qemus started, stopped by cleanup
tuner_pids=() # tuners started, stopped by cleanup
peer_pids=()  # peers started, stopped by cleanup
declare -A go_fds=() # fake-qemu name -> fd of its FIFO, kept open by this shell
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
	local name
	trap '' INT TERM
	if [[ -n "$sleep_pid" ]]; then
		kill "$sleep_pid" 2>/dev/null || true
	fi
	for name in "${!go_fds[@]}"; do
		go_fd=${go_fds[$name]}
		exec {go_fd}>&-
	done
	# fake-qemus first: their tuners and peers then exit by themselves.
	stop_pids "${fq_pids[@]}"
	stop_pids "${tuner_pids[@]}" "${peer_pids[@]}"
	if ((!rt_group_before)) && [[ -d $rt_group && ! -s $rt_group/tasks ]]; then
		rmdir "$rt_group" 2>/dev/null || true
	fi
	if [[ -n "$nobudget_group" && -d "$nobudget_group" ]]; then
		rmdir "$nobudget_group" 2>/dev/null || true
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

# Starts fake-qemu NAME with ARGS, stdout to $tmp/NAME.out; waits for READY; sets
# fq_pid. With --bench its stdin is a FIFO kept open by this shell (go_fds[NAME]),
# which `go NAME` writes to. With FQ_CGROUP set (a cpu cgroup directory), it is
# started inside that group, so that its threads are born there.
start_fake_qemu() {
	local name=$1 deadline
	shift
	local -a cmd=("$FAKE_QEMU" "$@")
	if [[ -n "${FQ_CGROUP:-}" ]]; then
		# shellcheck disable=SC2016 # expanded by that sh
		cmd=(sh -c 'echo $$ >"$1/tasks" || exit 1; shift; exec "$@"' sh "$FQ_CGROUP" "${cmd[@]}")
	fi
	if [[ " $* " == *" --bench "* ]]; then
		mkfifo "$tmp/$name.in"
		exec {go_fd}<>"$tmp/$name.in"
		go_fds[$name]=$go_fd
		"${cmd[@]}" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	else
		"${cmd[@]}" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
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

go() {
	echo go >&"${go_fds[$1]}"
}

# Starts the tuner for fake-qemu fq_pid with ARGS; waits until it has written
# its state and pid file (it is then subscribed to events); sets tune_pid.
start_tuner() {
	local name=$1 deadline
	shift
	rm -f "$state_dir/bench.json"
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

# Starts the peer for fake-qemu fq_pid polling every MS ms; sets peer_pid.
start_peer() {
	local name=$1 ms=$2
	python3 "$here/peer-poll.py" --pid "$fq_pid" --interval-ms "$ms" --cpus "$expect_cpus" --fifo 10 \
		>"$tmp/$name.peer.log" 2>&1 &
	peer_pid=$!
	peer_pids+=("$peer_pid")
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

# Waits until every PID has exited (at most LIMIT s, then cannot), sampling the
# memory of the tuner tuner_watch meanwhile.
wait_runs() {
	local limit=$1 pid left deadline
	shift
	deadline=$((SECONDS + limit))
	while :; do
		left=0
		for pid in "$@"; do
			running "$pid" && left=1
		done
		((left)) || break
		[[ -n "${tuner_watch:-}" ]] && sample_memory "$tuner_watch"
		((SECONDS < deadline)) || cannot "fake-qemu --bench still running after $limit s"
		sleep 0.1
	done
}

# Sets line from fake-qemu NAME's BENCH line (after it exited with STATUS).
bench_line() {
	line=$(grep '^BENCH ' "$tmp/$1.out" || true)
	[[ -n "$line" ]] || cannot "fake-qemu $1 printed no result (status $2): $(cat "$tmp/$1.err")"
}
field() { sed -n "s/.* $1=\([-0-9]*\).*/\1/p" <<<"$line"; }

# Waits up to 5 s for tuner PID to follow its process out; sets tuner_exit and
# leftovers (state files, the RT group when it was not there before).
tuner_after() {
	local rc=0
	for _ in $(seq 50); do
		running "$1" || break
		sleep 0.1
	done
	if ! running "$1"; then
		wait_exit "$1" || rc=$?
		tuner_exit="exited $rc"
	else
		tuner_exit="still running 5 s after its process exited"
	fi
	leftovers=$(cd "$state_dir" && echo *)
	[[ "$leftovers" == "*" ]] && leftovers=
	if ((!rt_group_before)) && [[ -d $rt_group ]]; then
		leftovers+=" $rt_group"
	fi
	leftovers=${leftovers# }
}

# The cpu cgroup of this shell (where fake-qemu's threads are born) and its budget.
cgroup_of_self() {
	awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3; exit} $2 == "" {v2 = $3} END {if (v2 != "") print v2}' /proc/self/cgroup |
		head -n 1
}

kernel=$(uname -r)
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
ncpu=$(nproc)
echo "kernel: $kernel"
echo "cpu: $cpu_model ($ncpu CPUs)"
state_fs=$(df --output=fstype "$state_dir" 2>/dev/null | tail -n 1 || stat -f -c %T "$state_dir")
echo "tuner: $VIRT_ROUTER_TUNE"
echo "state dir: $state_dir ($state_fs; the tuner rewrites its state file on every thread event)"
birth_cgroup=$(cgroup_of_self)
birth_budget=$(cat "$cpu_mount${birth_cgroup%/}/cpu.rt_runtime_us" 2>/dev/null || echo none)
if [[ -n "$expect_cgroup" ]]; then
	echo "cgroups: v1 with RT group scheduling: FIFO threads join $expect_cgroup; fake-qemu's threads are born in cpu cgroup $birth_cgroup (cpu.rt_runtime_us $birth_budget)"
else
	echo "cgroups: no RT group scheduling (no $cpu_mount/cpu.rt_runtime_us): the tuner moves no thread; cgroup times not measured"
fi

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

bench_args=(--vcpus 1 --tcg --expect-policy fifo --expect-cpus "$expect_cpus" --timeout-ms "$BENCH_TIMEOUT_MS")
[[ -n "$expect_cgroup" ]] && bench_args+=(--expect-cgroup "$expect_cgroup")
lone_args=(--arrivals lone --pause-ms "$BENCH_LONE_PAUSE_MS" --seed "$BENCH_SEED")
# Sets NAME_count, NAME_ok, NAME_timeouts, NAME_median, NAME_p99, NAME_max, and the
# same with _cg for the cgroup, from line (empty when not measured).
read_bench() {
	local n=$1 k
	for k in count ok timeouts; do
		printf -v "${n}_$k" '%s' "$(field "$k")"
	done
	for k in median p99 max; do
		printf -v "${n}_$k" '%s' "$(field "${k}_us")"
		printf -v "${n}_cg_$k" '%s' "$(field "cgroup_${k}_us")"
	done
	printf -v "${n}_cg_ok" '%s' "$(field cgroup_ok)"
	printf -v "${n}_cg_timeouts" '%s' "$(field cgroup_timeouts)"
}
# "median M us, p99 P us, max X us" of NAME's class (or with cg, its cgroup) figures.
figures() {
	local m p x
	m=${1}_median p=${1}_p99 x=${1}_max
	echo "median ${!m} us, p99 ${!p} us, max ${!x} us"
}


# After a run: wait for its fake-qemu, read its figures and print them. NAME LABEL
# TARGET_US: the run's name (b2b, lone), its label, its p99 target.
finish_run() {
	local name=$1 qemu=$2 label=$3 target=$4 rc=0 count timeouts cg_timeouts
	wait_exit "$qemu" || rc=$?
	bench_line "$name" "$rc"
	read_bench "$name"
	count=${name}_count timeouts=${name}_timeouts cg_timeouts=${name}_cg_timeouts
	echo "$label, ${!count} threads: class $(figures "$name"), timeouts ${!timeouts} (target p99 <= $target us)"
	if [[ -n "$expect_cgroup" ]]; then
		echo "  cgroup move: $(figures "${name}_cg"), timeouts ${!cg_timeouts}"
	fi
}
# ---- a) back to back -----------------------------------------------------------
start_fake_qemu b2b --bench "$BENCH_THREADS" "${bench_args[@]}" --csv "$tmp/b2b.csv"
b2b_qemu=$fq_pid
start_tuner b2b
b2b_tuner=$tune_pid
log "back to back: $BENCH_THREADS threads, fake-qemu $b2b_qemu, tuner $b2b_tuner"
rss_kib='' hwm_kib='' rss_anon_kib='' rss_file_kib=''
tuner_watch=$b2b_tuner
go b2b
wait_runs $((BENCH_THREADS * BENCH_TIMEOUT_MS / 1000 + 120)) "$b2b_qemu"
tuner_watch=
finish_run b2b "$b2b_qemu" "back to back" "$BENCH_TARGET_P99_US"
# What the tuner did with each thread, from its log ("vhost0 (tid N, ...): CPUs 1,
# class fifo"): every bench thread is the only vhost thread alive, so all should
# be vhost0 on the planned CPU.
roles=$(grep -oE "'bench': vhost[0-9]+ \(tid [0-9]+, '[^']*'\): CPUs [^ ]+" "$tmp/b2b.tune.log" |
	sed -E 's/.* (vhost[0-9]+) .*CPUs ([^ ]*),$/\1 on CPU \2/' | sort | uniq -c |
	awk '{c = $1; $1 = ""; printf "%s%s x%d", sep, substr($0, 2), c; sep = ", "}')
tuner_errors=$(grep -cE "cannot|refused|error" "$tmp/b2b.tune.log" || true)
echo "  the tuner placed: ${roles:-nothing}; error lines in its log: $tuner_errors"
tuner_after "$b2b_tuner"
b2b_tuner_exit=$tuner_exit b2b_leftovers=$leftovers
echo "  tuner after the run: $tuner_exit${leftovers:+, left behind: $leftovers}"
echo "tune RSS: ${rss_kib:-?} KiB (target <= $BENCH_TARGET_RSS_KIB KiB)"
echo "  peak VmHWM ${hwm_kib:-?} KiB; of the RSS: anonymous ${rss_anon_kib:-?} KiB, file-backed (shared libraries) ${rss_file_kib:-?} KiB"

# ---- b) lone arrivals: the tuner, then its peers on the same pauses ------------
# One after the other: the peers' processes (their threads wait milliseconds for
# their class, polling it) must not take CPU time from the tuner's measurement.
start_fake_qemu lone --bench "$BENCH_LONE_THREADS" "${bench_args[@]}" "${lone_args[@]}" --csv "$tmp/lone.csv"
lone_qemu=$fq_pid
start_tuner lone
lone_tuner=$tune_pid
log "lone arrivals: $BENCH_LONE_THREADS threads after pauses of $BENCH_LONE_PAUSE_MS ms; tuner $lone_tuner"
go lone
pause_max=${BENCH_LONE_PAUSE_MS#*-}
lone_limit=$((BENCH_LONE_THREADS * (pause_max + BENCH_TIMEOUT_MS) / 1000 + 120))
wait_runs "$lone_limit" "$lone_qemu"
finish_run lone "$lone_qemu" "lone arrivals" "$BENCH_TARGET_LONE_P99_US"
tuner_after "$lone_tuner"
lone_tuner_exit=$tuner_exit lone_leftovers=$leftovers
echo "  tuner after the run: $tuner_exit${leftovers:+, left behind: $leftovers}"
# The peers side by side: their figures are milliseconds, each other's polls hardly count.
run_pids=()
declare -A peer_qemu=()
for ms in "${peer_intervals[@]}"; do
	# The peers' threads need not join a cgroup: a user's loop moves none.
	start_fake_qemu "peer$ms" --bench "$BENCH_LONE_THREADS" --vcpus 1 --tcg --expect-policy fifo \
		--expect-cpus "$expect_cpus" --timeout-ms "$BENCH_TIMEOUT_MS" "${lone_args[@]}" --csv "$tmp/peer$ms.csv"
	run_pids+=("$fq_pid")
	peer_qemu[$ms]=$fq_pid
	start_peer "peer$ms" "$ms"
done
log "lone arrivals, the same pauses: peers polling every ${peer_intervals[*]} ms"
for ms in "${peer_intervals[@]}"; do
	go "peer$ms"
done
wait_runs "$lone_limit" "${run_pids[@]}"
for ms in "${peer_intervals[@]}"; do
	rc=0
	wait_exit "${peer_qemu[$ms]}" || rc=$?
	bench_line "peer$ms" "$rc"
	read_bench "peer$ms"
	c=peer${ms}_count t=peer${ms}_timeouts
	# A peer's thread not tuned within BENCH_TIMEOUT_MS is the peer's figure, not a
	# failure of the bench: counted, and left out of its percentiles (in its favour).
	echo "  peer polling every $ms ms, ${!c} threads: class $(figures "peer$ms"), timeouts ${!t}"
	if [[ -s "$tmp/peer$ms.peer.log" ]]; then
		echo "    the peer said: $(head -c 300 "$tmp/peer$ms.peer.log")"
	fi
done

# ---- c) lone arrivals born in a group without RT budget -------------------------
nobudget_run=0
if [[ -n "$expect_cgroup" ]] && ((BENCH_NOBUDGET_THREADS > 0)); then
	nobudget_group=$(mktemp -d "$cpu_mount/bench-tune-nobudget.XXXXXX")
	nb_budget=$(cat "$nobudget_group/cpu.rt_runtime_us")
	FQ_CGROUP=$nobudget_group start_fake_qemu nobudget --bench "$BENCH_NOBUDGET_THREADS" "${bench_args[@]}" \
		"${lone_args[@]}" --csv "$tmp/nobudget.csv"
	nb_qemu=$fq_pid
	start_tuner nobudget
	nb_tuner=$tune_pid
	log "lone arrivals born in ${nobudget_group#"$cpu_mount"} (cpu.rt_runtime_us $nb_budget): $BENCH_NOBUDGET_THREADS threads, tuner $nb_tuner"
	go nobudget
	wait_runs $((BENCH_NOBUDGET_THREADS * (pause_max + BENCH_TIMEOUT_MS) / 1000 + 120)) "$nb_qemu"
	nb_rc=0
	wait_exit "$nb_qemu" || nb_rc=$?
	bench_line nobudget "$nb_rc"
	read_bench nobudget
	echo "lone arrivals born without RT budget (cpu.rt_runtime_us $nb_budget, as in libvirt's groups), $nobudget_count threads:"
	echo "  class $(figures nobudget), timeouts $nobudget_timeouts; cgroup move $(figures nobudget_cg)"
	echo "  (not a target: the kernel refuses FIFO there, so the class waits for the move into $expect_cgroup)"
	tuner_after "$nb_tuner"
	nb_tuner_exit=$tuner_exit nb_leftovers=$leftovers
	echo "  tuner after the run: $tuner_exit${leftovers:+, left behind: $leftovers}"
	rmdir "$nobudget_group" 2>/dev/null || true
	nobudget_run=1
fi

# ---- d) idle CPU: the tuner and its peers ----------------------------------------
start_fake_qemu idle --vcpus 1 --tcg --vhost 1
idle_qemu=$fq_pid
start_tuner idle
idle_tuner=$tune_pid
idle_qemus=("$idle_qemu")
declare -A idle_peer=()
for ms in "${peer_intervals[@]}"; do
	start_fake_qemu "idle-peer$ms" --vcpus 1 --tcg --vhost 1
	idle_qemus+=("$fq_pid")
	start_peer "idle-peer$ms" "$ms"
	idle_peer[$ms]=$peer_pid
done
sleep 1 # let the start-up settle
log "idle: tuner $idle_tuner and peers ${idle_peer[*]} on idle fake-qemus for $BENCH_IDLE_SECONDS s"
hz=$(getconf CLK_TCK)
forks0=$(awk '$1 == "processes" {print $2}' /proc/stat)
ticks0=$(cpu_ticks_of "$idle_tuner")
ns0=$(cpu_ns_of "$idle_tuner")
declare -A peer_ns0=()
for ms in "${peer_intervals[@]}"; do
	peer_ns0[$ms]=$(cpu_ns_of "${idle_peer[$ms]}")
done
t0=$(date +%s%N)
# In the background: a signal then interrupts `wait` and the trap cleans up at once.
sleep "$BENCH_IDLE_SECONDS" &
sleep_pid=$!
wait "$sleep_pid"
sleep_pid=
ticks1=$(cpu_ticks_of "$idle_tuner")
ns1=$(cpu_ns_of "$idle_tuner")
declare -A peer_pct=() peer_rss=()
t1=$(date +%s%N)
for ms in "${peer_intervals[@]}"; do
	peer_pct[$ms]=$(awk -v d=$(($(cpu_ns_of "${idle_peer[$ms]}") - peer_ns0[$ms])) -v a="$t0" -v b="$t1" \
		'BEGIN {printf "%.4f", 100 * d / (b - a)}')
	peer_rss[$ms]=$(rss_of "${idle_peer[$ms]}" VmRSS)
done
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
for ms in "${peer_intervals[@]}"; do
	echo "  peer polling every $ms ms: ${peer_pct[$ms]}% of a core (scheduler run time), RSS ${peer_rss[$ms]} KiB"
done
stop_pids "${idle_qemus[@]}"
for _ in $(seq 50); do
	running "$idle_tuner" || break
	sleep 0.1
done
wait_exit "$idle_tuner" || true
for ms in "${peer_intervals[@]}"; do
	wait_exit "${idle_peer[$ms]}" || true
done

# ---- statistics: bootstrap intervals and the ratios tuner/peer -------------------
# Besides class and cgroup: how long each new thread waited to run at all (it then
# names itself: nothing can know it for a vhost worker before), and the rest.
samples=("b2b_class=$tmp/b2b.csv:latency_us" "lone_class=$tmp/lone.csv:latency_us"
	"b2b_started=$tmp/b2b.csv:started_us" "b2b_after_start=$tmp/b2b.csv:latency_us-started_us"
	"lone_started=$tmp/lone.csv:started_us" "lone_after_start=$tmp/lone.csv:latency_us-started_us")
ratios=()
if [[ -n "$expect_cgroup" ]]; then
	samples+=("b2b_cgroup=$tmp/b2b.csv:cgroup_us" "lone_cgroup=$tmp/lone.csv:cgroup_us")
fi
for ms in "${peer_intervals[@]}"; do
	samples+=("peer${ms}_class=$tmp/peer$ms.csv:latency_us")
	ratios+=(--ratio "lone_class/peer${ms}_class")
done
if ((nobudget_run)); then
	samples+=("nobudget_class=$tmp/nobudget.csv:latency_us" "nobudget_cgroup=$tmp/nobudget.csv:cgroup_us"
		"nobudget_after_start=$tmp/nobudget.csv:latency_us-started_us")
fi
echo "statistics (95% bootstrap intervals, $BENCH_RESAMPLES resamples; *_started: until the new thread first ran;"
echo "  *_after_start: class time less that: its naming and the tuner; ratios tuner/peer of the class time):"
python3 "$here/tune-stats.py" --resamples "$BENCH_RESAMPLES" --seed "$BENCH_SEED" --json "$tmp/stats.json" \
	"${samples[@]}" "${ratios[@]}" | sed 's/^/  /' || cannot "tests/bench/tune-stats.py failed"
if [[ -n "$keep_csv" ]]; then
	if ! mkdir -p "$keep_csv" || ! cp "$tmp"/*.csv "$tmp/stats.json" "$keep_csv"/; then
		cannot "--keep-csv $keep_csv: cannot copy the CSV files there"
	fi
fi

# ---- verdict and summary --------------------------------------------------------
reasons=()
check_run() { # NAME LABEL TARGET_US MIN_COUNT
	local n=$1 label=$2 target=$3 min=$4 c t o p ct
	c=${n}_count t=${n}_timeouts o=${n}_ok p=${n}_p99 ct=${n}_cg_timeouts
	if ((${!t} > 0)); then
		reasons+=("$label: ${!t} of ${!c} threads not given class and CPUs within $BENCH_TIMEOUT_MS ms")
	fi
	if [[ -n "$expect_cgroup" ]] && ((${!ct:-0} > 0)); then
		reasons+=("$label: ${!ct} of ${!c} threads not moved into $expect_cgroup within $BENCH_TIMEOUT_MS ms")
	fi
	if ((${!o} == 0)) || ((${!p} > target)); then
		reasons+=("$label: class p99 ${!p} us > $target us")
	fi
	if ((${!c} < min)); then
		reasons+=("$label: only ${!c} threads measured (the target is over >= $min)")
	fi
}
check_run b2b "back to back" "$BENCH_TARGET_P99_US" 1000
check_run lone "lone arrivals" "$BENCH_TARGET_LONE_P99_US" 100
if ((nobudget_run)) && ((nobudget_cg_timeouts > 0 || nobudget_timeouts > 0)); then
	reasons+=("lone arrivals without RT budget: $nobudget_timeouts threads without class, $nobudget_cg_timeouts not moved within $BENCH_TIMEOUT_MS ms")
fi
if awk -v x="$idle_pct" -v t="$BENCH_TARGET_IDLE_PCT" 'BEGIN {exit !(x > t)}'; then
	reasons+=("idle CPU: $idle_pct% > $BENCH_TARGET_IDLE_PCT% (host process churn: $fork_rate/s)")
fi
if [[ -z "$rss_kib" ]] || ((rss_kib > BENCH_TARGET_RSS_KIB)); then
	reasons+=("RSS: ${rss_kib:-unknown} KiB > $BENCH_TARGET_RSS_KIB KiB")
fi
for run in b2b lone nb; do
	e=${run}_tuner_exit l=${run}_leftovers
	[[ -n "${!e:-}" ]] || continue
	if [[ "${!e}" != "exited 0" || -n "${!l}" ]]; then
		reasons+=("tuner after its process exited ($run): ${!e}${!l:+, left behind: ${!l}}")
	fi
done
result=PASS
((${#reasons[@]} == 0)) || result=FAIL

sample_of() { # SAMPLE_NAME KEY -> value or empty
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["samples"].get(sys.argv[2], {}).get(sys.argv[3]); print("" if v is None else v)' \
		"$tmp/stats.json" "$1" "$2"
}
ratio_of() { # RATIO_NAME KEY -> value or empty
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["ratios"].get(sys.argv[2]) or {}; v=r.get(sys.argv[3]); print("" if v is None else ("%.4f" % v if not isinstance(v, list) else "%.4f,%.4f" % tuple(v)))' \
		"$tmp/stats.json" "$1" "$2"
}
summary="BENCH-SUMMARY result=$result kernel=$kernel cpus=$ncpu threads=$b2b_count ok=$b2b_ok timeouts=$b2b_timeouts"
summary+=" median_us=$b2b_median p99_us=$b2b_p99 max_us=$b2b_max"
summary+=" cgroup_median_us=$b2b_cg_median cgroup_p99_us=$b2b_cg_p99"
summary+=" lone_threads=$lone_count lone_timeouts=$lone_timeouts lone_median_us=$lone_median lone_p99_us=$lone_p99 lone_max_us=$lone_max"
summary+=" lone_cgroup_median_us=$lone_cg_median lone_cgroup_p99_us=$lone_cg_p99 lone_cgroup_max_us=$lone_cg_max"
summary+=" lone_started_p99_us=$(sample_of lone_started p99_us) lone_after_start_median_us=$(sample_of lone_after_start median_us)"
summary+=" lone_after_start_p99_us=$(sample_of lone_after_start p99_us)"
for ms in "${peer_intervals[@]}"; do
	m=peer${ms}_median p=peer${ms}_p99
	summary+=" peer${ms}_median_us=${!m} peer${ms}_p99_us=${!p} peer${ms}_idle_pct=${peer_pct[$ms]}"
	summary+=" ratio_peer${ms}_median=$(ratio_of "lone_class/peer${ms}_class" median)"
	summary+=" ratio_peer${ms}_median_ci=$(ratio_of "lone_class/peer${ms}_class" median_ci)"
	summary+=" ratio_peer${ms}_p99=$(ratio_of "lone_class/peer${ms}_class" p99)"
	summary+=" ratio_peer${ms}_p99_ci=$(ratio_of "lone_class/peer${ms}_class" p99_ci)"
done
if ((nobudget_run)); then
	summary+=" nobudget_median_us=$nobudget_median nobudget_p99_us=$nobudget_p99"
	summary+=" nobudget_cgroup_median_us=$nobudget_cg_median nobudget_cgroup_p99_us=$nobudget_cg_p99"
fi
summary+=" idle_pct=$idle_pct idle_pct_schedstat=$idle_pct_ns"
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
	jnum() { # a number, or null when empty or -1 (not measured)
		if [[ -z "$1" || "$1" == -1 ]]; then printf null; else printf '%s' "$1"; fi
	}
	run_json() { # NAME TARGET_US (0: none) ARRIVALS
		local n=$1 k v
		printf '{"arrivals":%s,' "$(jstr "$3")"
		for k in count ok timeouts median p99 max; do
			v=${n}_$k
			printf '"%s":%s,' "$([[ $k =~ ^(median|p99|max)$ ]] && echo "${k}_us" || echo "$k")" "$(jnum "${!v}")"
		done
		printf '"cgroup":'
		if [[ -n "$expect_cgroup" ]]; then
			printf '{"group":%s' "$(jstr "$expect_cgroup")"
			for k in ok timeouts median p99 max; do
				v=${n}_cg_$k
				printf ',"%s":%s' "$([[ $k =~ ^(median|p99|max)$ ]] && echo "${k}_us" || echo "$k")" "$(jnum "${!v}")"
			done
			printf '}'
		else
			printf null
		fi
		printf ',"target_p99_us":%s}' "$( (($2)) && echo "$2" || echo null)"
	}
	printf '{"result":%s,"kernel":%s,"cpu_model":%s,"cpus":%d,"state_fs":%s,"vhost_cpus":%s,' \
		"$(jstr $result)" "$(jstr "$kernel")" "$(jstr "$cpu_model")" "$ncpu" "$(jstr "$state_fs")" "$(jstr "$expect_cpus")"
	printf '"birth_cgroup":{"path":%s,"rt_runtime_us":%s},' "$(jstr "$birth_cgroup")" \
		"$([[ $birth_budget =~ ^[0-9]+$ ]] && echo "$birth_budget" || echo null)"
	printf '"latency":'
	run_json b2b "$BENCH_TARGET_P99_US" back-to-back
	printf ',"lone":'
	run_json lone "$BENCH_TARGET_LONE_P99_US" "lone, pauses $BENCH_LONE_PAUSE_MS ms"
	printf ',"lone_without_rt_budget":'
	if ((nobudget_run)); then run_json nobudget 0 "lone, pauses $BENCH_LONE_PAUSE_MS ms, born in a group with cpu.rt_runtime_us 0"; else printf null; fi
	printf ',"peers":['
	sep=
	for ms in "${peer_intervals[@]}"; do
		printf '%s{"interval_ms":%d,"idle_cpu_pct":%s,"rss_kib":%s,"lone":' "$sep" "$ms" "${peer_pct[$ms]}" "$(jnum "${peer_rss[$ms]}")"
		run_json "peer$ms" 0 "lone, pauses $BENCH_LONE_PAUSE_MS ms"
		printf '}'
		sep=,
	done
	printf '],"statistics":%s,' "$(cat "$tmp/stats.json")"
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

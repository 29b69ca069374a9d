#!/bin/sh
# Builds the committed fake trees in this directory: /proc and cgroup file systems as
# the kernel lays them out on a host running libvirt guests that act as routers. Each
# tree is a ROOT PREFIX: code under test reads ROOT/proc/... and ROOT/sys/fs/cgroup/...
# Re-run after changing it and commit the result; tests never run this script.
# README.md has the table of trees; tests/test-fake-trees.sh checks them.
#
#   vhost-task-v1     QEMU 4242, vhost workers as threads of QEMU (vhost_task, >= 6.4),
#                     cgroup v1 hybrid (cgroup2 at /sys/fs/cgroup/unified), kernel 6.18
#   vhost-kthread-v2  QEMU 5000, vhost workers as kernel threads (< 6.4, or kthread mode),
#                     pure cgroup v2, /proc in the format of Debian 12's kernel 6.1
#   tcg-v1            QEMU 6000 under TCG (no vhost: the main thread runs virtio), v1
#   lxc-napi-v1       LXC container 7001 (libvirt_lxc 7000) and threaded-NAPI kthreads, v1
#
# The fake host has 4 CPUs (0-3) and one NUMA node, USER_HZ 100.
set -eu
cd "$(dirname "$0")"

ALLCPUS=0-3
ALLMASK=f
MEMS=00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000
MEMS=$MEMS,$MEMS,$MEMS,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001

# ------------------------------------------------------------------ process profiles
# profile NAME: the per-process constants of a kind of process (memory in kB, the
# mm's addresses, credentials, signal dispositions).
profile() {
        case $1 in
        qemu)   # qemu-system-x86_64 with 2 GiB of guest RAM, run by libvirt as libvirt-qemu
                KERNEL=0 UMASK=0002 CRED=64055 GID=64055 GROUPS_="104 64055" FDSIZE=256
                VM="3354988 2202380 2183448 18932 2392508 6328 58212 4712"
                ADDR="94633493467136 94633499945281 140726452717376 94633506152720 94633506513856 94633542352896 140726452722901 140726452724263 140726452724263 140726452727778"
                SIGIGN=0000000000001000 SIGCGT=0000000100004243
                CAPPRM=0000000000000000 CAPBND=0000000000000000 NNP=1 SECCOMP=2 SECF=1 ;;
        small)  # a small root process (init, sleep, sh, libvirt_lxc)
                KERNEL=0 UMASK=0022 CRED=0 GID=0 GROUPS_="" FDSIZE=64
                VM="5480 1024 128 896 360 20 1528 48 "
                ADDR="94908120842240 94908120862129 140732765416192 94908120878128 94908120879744 94908139184128 140732765421531 140732765421548 140732765421548 140732765425643"
                SIGIGN=0000000000000000 SIGCGT=0000000000000000
                CAPPRM=000001ffffffffff CAPBND=000001ffffffffff NNP=0 SECCOMP=0 SECF=0 ;;
        kernel) KERNEL=1 UMASK=0022 CRED=0 GID=0 GROUPS_="" FDSIZE=64
                VM="" ADDR=""
                SIGIGN=ffffffffffffffff SIGCGT=0000000000000000
                CAPPRM=000001ffffffffff CAPBND=000001ffffffffff NNP=0 SECCOMP=0 SECF=0 ;;
        esac
}

# ------------------------------------------------------------------ one tree
# tree NAME FMT: start a tree. FMT 618 = /proc of kernel 6.18, 61 = of kernel 6.1
# (no "Kthread:" nor "untag_mask:" lines in status).
tree() {
        T=$1 FMT=$2
        rm -rf "$T"
        mkdir -p "$T/proc/self" "$T/sys/fs/cgroup" "$T/proc/sys/kernel" "$T/sys/devices/system/cpu"
        # The host's CPUs and real-time limits (defaults of the kernel).
        echo 0-3 > "$T/sys/devices/system/cpu/online"
        echo 1000000 > "$T/proc/sys/kernel/sched_rt_period_us"
        echo 950000 > "$T/proc/sys/kernel/sched_rt_runtime_us"
}

# The state letter as status spells it.
state_text() {
        case $1 in
        R) echo "R (running)" ;;
        S) echo "S (sleeping)" ;;
        D) echo "D (disk sleep)" ;;
        I) echo "I (idle)" ;;
        *) echo "$1" ;;
        esac
}

# proc PID PPID PGRP SID NTHREADS START PROFILE [NSBASE]: the process the next
# task calls belong to. With NSBASE the process is in a child PID namespace where
# pid = host pid - NSBASE (an LXC container: its init is 1 inside).
proc() {
        P=$1 PPID_=$2 PGRP=$3 SID=$4 NTH=$5 START=$6 NSBASE=${8:-}
        profile "$7"
        SUM_MIN=0 SUM_MAJ=0 SUM_UT=0 SUM_ST=0 SUM_GT=0
        AFF=$ALLCPUS AFFMASK=$ALLMASK
}

# nsids HOSTID: "HOSTID" or "HOSTID<TAB>NSID" for a process in a child PID namespace
nsids() {
        if [ -n "$NSBASE" ] && [ "$1" -gt 0 ]; then
                printf '%s\t%s' "$1" $(($1 - NSBASE))
        else
                printf '%s' "$1"
        fi
}

# stat_line TID COMM STATE FLAGS MINFLT MAJFLT UTIME STIME EXITSIG CPU GUEST TSTART:
# all 52 fields of /proc/PID/stat (fs/proc/array.c do_task_stat)
stat_line() {
        _wchan=1                # 0 if running, 1 if blocked (since 5.16)
        if [ "$3" = R ]; then _wchan=0; fi
        # signal masks as decimals of their low 31 bits (the hex in status is 64 bits)
        _ign=$(( $(printf '%d' "0x$(echo "$SIGIGN" | cut -c9-16)") & 0x7fffffff ))
        _cgt=$(( $(printf '%d' "0x$(echo "$SIGCGT" | cut -c9-16)") & 0x7fffffff ))
        if [ "$KERNEL" = 1 ]; then
                set -- "$@" 0 0 18446744073709551615 "0 0 0" "0 0 0 0 0 0 0"
        else
                # shellcheck disable=SC2086
                set -- "$@" $(($(echo $VM | cut -d' ' -f1) * 1024)) \
                        $(($(echo $VM | cut -d' ' -f2) / 4)) 18446744073709551615 \
                        "$(echo $ADDR | cut -d' ' -f1-3)" "$(echo $ADDR | cut -d' ' -f4-10)"
        fi
        #       1  2    3  4  5  6  7 8  9  10 11 12 13 14 15 16 17 18 19 20 21 22
        printf '%s (%s) %s %s %s %s 0 -1 %s %s 0 %s 0 %s %s 0 0 20 0 %s 0 %s ' \
                "$1" "$2" "$3" "$PPID_" "$PGRP" "$SID" "$4" "$5" "$6" "$7" "$8" "$NTH" "${12}"
        #       23 24 25 26-28 29-34         35 36-37 38 39 40-42 43 44 45-51 52
        printf '%s %s %s %s 0 0 0 0 %s %s %s 0 0 %s %s 0 0 0 %s 0 %s 0\n' \
                "${13}" "${14}" "${15}" "${16}" "$_ign" "$_cgt" "$_wchan" "$9" "${10}" "${11}" "${17}"
}

# status_file TID COMM STATE VCSW NVCSW: /proc/PID/status (fs/proc/array.c) in FMT
status_file() {
        printf 'Name:\t%s\nUmask:\t%s\nState:\t%s\nTgid:\t%s\nNgid:\t0\nPid:\t%s\nPPid:\t%s\n' \
                "$2" "$UMASK" "$(state_text "$3")" "$P" "$1" "$PPID_"
        printf 'TracerPid:\t0\nUid:\t%s\t%s\t%s\t%s\nGid:\t%s\t%s\t%s\t%s\nFDSize:\t%s\n' \
                "$CRED" "$CRED" "$CRED" "$CRED" "$GID" "$GID" "$GID" "$GID" "$FDSIZE"
        printf 'Groups:\t%s \n' "$GROUPS_"
        printf 'NStgid:\t%s\nNSpid:\t%s\nNSpgid:\t%s\nNSsid:\t%s\n' \
                "$(nsids "$P")" "$(nsids "$1")" "$(nsids "$PGRP")" "$(nsids "$SID")"
        if [ "$FMT" = 618 ]; then printf 'Kthread:\t%s\n' "$KERNEL"; fi
        if [ "$KERNEL" = 0 ]; then
                # shellcheck disable=SC2086
                set -- "$@" $VM
                # $6 VmSize $7 VmRSS $8 RssAnon $9 RssFile ${10} VmData ${11} VmExe ${12} VmLib ${13} VmPTE
                printf 'VmPeak:\t%8s kB\nVmSize:\t%8s kB\nVmLck:\t%8s kB\nVmPin:\t%8s kB\n' \
                        $(($6 + $6 / 64)) "$6" 0 0
                printf 'VmHWM:\t%8s kB\nVmRSS:\t%8s kB\nRssAnon:\t%8s kB\nRssFile:\t%8s kB\nRssShmem:\t%8s kB\n' \
                        $(($7 + $7 / 128)) "$7" "$8" "$9" $(($7 - $8 - $9))
                printf 'VmData:\t%8s kB\nVmStk:\t%8s kB\nVmExe:\t%8s kB\nVmLib:\t%8s kB\nVmPTE:\t%8s kB\n' \
                        "${10}" 132 "${11}" "${12}" "${13}"
                printf 'VmSwap:\t%8s kB\nHugetlbPages:\t%8s kB\nCoreDumping:\t0\nTHP_enabled:\t1\n' 0 0
                if [ "$FMT" = 618 ]; then printf 'untag_mask:\t0xffffffffffffffff\n'; fi
        fi
        printf 'Threads:\t%s\nSigQ:\t0/63382\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n' "$NTH"
        printf 'SigBlk:\t0000000000000000\nSigIgn:\t%s\nSigCgt:\t%s\n' "$SIGIGN" "$SIGCGT"
        printf 'CapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nCapAmb:\t0000000000000000\n' \
                "$CAPPRM" "$CAPPRM" "$CAPBND"
        printf 'NoNewPrivs:\t%s\nSeccomp:\t%s\nSeccomp_filters:\t%s\n' "$NNP" "$SECCOMP" "$SECF"
        printf 'Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n'
        printf 'Cpus_allowed:\t%s\nCpus_allowed_list:\t%s\nMems_allowed:\t%s\nMems_allowed_list:\t0\n' \
                "$AFFMASK" "$AFF" "$MEMS"
        printf 'voluntary_ctxt_switches:\t%s\nnonvoluntary_ctxt_switches:\t%s\n' "$4" "$5"
}

# task TID KIND STATE CPU UTIME STIME GUEST VCSW NVCSW CGROUP COMM
#   KIND: leader (the process' main thread), thread (a pthread), uworker (a
#   vhost_task: PF_USER_WORKER), vcpu-in-guest (a pthread caught in guest mode:
#   PF_VCPU), kthread (a kernel thread: PF_KTHREAD), kworker (a workqueue worker:
#   PF_WQ_WORKER|PF_NO_SETAFFINITY). CGROUP: the text of /proc/PID/cgroup.
task() {
        _tid=$1 _kind=$2 _st=$3 _cpu=$4 _ut=$5 _stime=$6 _gt=$7 _v=$8 _nv=$9 _cg=${10} _comm=${11}
        _exit=-1 _maj=0 _min=$((40 + _tid % 97)) _start=$((START + _tid - P))
        case $_kind in
        leader) _flags=0x400000 _exit=17 _maj=112 _min=48211 _start=$START
                if [ "$CRED" = 0 ]; then _flags=0x400100; fi ;;    # PF_SUPERPRIV
        thread) _flags=0x400040 ;;
        vcpu-in-guest) _flags=0x400041 ;;
        uworker) _flags=0x404040 _min=0 ;;
        kthread) _flags=0x208040 _exit=17 _min=0 ;;
        kworker) _flags=0x4208060 _exit=17 _min=0 ;;
        esac
        if [ "$_tid" = 2 ]; then _exit=0; fi                        # kthreadd
        _flags=$(printf '%d' "$_flags")
        _d=$T/proc/$P/task/$_tid
        mkdir -p "$_d"
        printf '%s\n' "$_comm" > "$_d/comm"
        stat_line "$_tid" "$_comm" "$_st" "$_flags" "$_min" "$_maj" "$_ut" "$_stime" \
                "$_exit" "$_cpu" "$_gt" "$_start" > "$_d/stat"
        status_file "$_tid" "$_comm" "$_st" "$_v" "$_nv" > "$_d/status"
        printf '%s\n' "$_cg" > "$_d/cgroup"
        SUM_MIN=$((SUM_MIN + _min)) SUM_MAJ=$((SUM_MAJ + _maj))
        SUM_UT=$((SUM_UT + _ut)) SUM_ST=$((SUM_ST + _stime)) SUM_GT=$((SUM_GT + _gt))
        if [ "$_tid" = "$P" ]; then
                L_COMM=$_comm L_ST=$_st L_FLAGS=$_flags L_EXIT=$_exit L_CPU=$_cpu
        fi
        AFF=$ALLCPUS AFFMASK=$ALLMASK
}

# endproc: the process-level files, as the kernel shows them: the leader's comm,
# status and cgroup; stat with fault counts and times summed over all threads.
endproc() {
        _d=$T/proc/$P
        for f in comm status cgroup; do
                cp "$_d/task/$P/$f" "$_d/$f"
        done
        stat_line "$P" "$L_COMM" "$L_ST" "$L_FLAGS" "$SUM_MIN" "$SUM_MAJ" "$SUM_UT" "$SUM_ST" \
                "$L_EXIT" "$L_CPU" "$SUM_GT" "$START" > "$_d/stat"
}

# ------------------------------------------------------------------ cgroup files
# cg_v1 THREADGROUP DOMAINGROUP [FREEZERGROUP]: /proc/PID/cgroup on the v1 hybrid
# host (hierarchy IDs descending, the cgroup2 line last). libvirt puts a domain in
# cpu,cpuacct, cpuset, memory, devices, blkio (and freezer for LXC); only cpu,
# cpuacct and cpuset have the per-thread vcpuN/emulator/iothreadN children.
cg_v1() {
        printf '10:perf_event:/\n9:net_cls,net_prio:/\n8:hugetlb:/\n7:pids:/\n'
        printf '6:freezer:%s\n5:blkio:%s\n4:devices:%s\n3:memory:%s\n2:cpuset:%s\n1:cpu,cpuacct:%s\n0::/' \
                "${3:-/}" "$2" "$2" "$2" "$1" "$1"
}

wr() { # FILE VALUE...: one value per line
        _f=$1
        shift
        printf '%s\n' "$@" > "$_f"
}

# v1 cgroup directories. DIR is relative to the tree's sys/fs/cgroup.
cg1_common() { # DIR ISROOT
        mkdir -p "$T/sys/fs/cgroup/$1"
        _c=$T/sys/fs/cgroup/$1
        wr "$_c/cgroup.clone_children" 0
        wr "$_c/notify_on_release" 0
        : > "$_c/cgroup.procs"
        : > "$_c/tasks"
        if [ "$2" = 1 ]; then
                wr "$_c/cgroup.sane_behavior" 0
                wr "$_c/release_agent" ""
        fi
}
cg1_cpu() { # GROUP ISROOT
        cg1_common "cpu,cpuacct$1" "$2"
        _c=$T/sys/fs/cgroup/cpu,cpuacct$1
        wr "$_c/cpu.shares" 1024
        wr "$_c/cpu.cfs_period_us" 100000
        wr "$_c/cpu.cfs_quota_us" -1
        wr "$_c/cpu.cfs_burst_us" 0
        wr "$_c/cpu.idle" 0
        wr "$_c/cpu.rt_period_us" 1000000
        if [ "$2" = 1 ]; then wr "$_c/cpu.rt_runtime_us" 950000; else wr "$_c/cpu.rt_runtime_us" 0; fi
        wr "$_c/cpu.stat" "nr_periods 0" "nr_throttled 0" "throttled_time 0" "nr_bursts 0" "burst_time 0"
}
cg1_cpuset() { # GROUP ISROOT
        cg1_common "cpuset$1" "$2"
        _c=$T/sys/fs/cgroup/cpuset$1
        for f in cpus effective_cpus; do wr "$_c/cpuset.$f" $ALLCPUS; done
        for f in mems effective_mems; do wr "$_c/cpuset.$f" 0; done
        # the top cpuset is exclusive; children are not
        for f in cpu_exclusive mem_exclusive; do wr "$_c/cpuset.$f" "$2"; done
        wr "$_c/cpuset.sched_load_balance" 1
        wr "$_c/cpuset.sched_relax_domain_level" -1
        wr "$_c/cpuset.mem_hardwall" 0
        wr "$_c/cpuset.memory_migrate" 0
}
# v1_host: the mounts and root groups of the v1 hybrid host.
v1_host() {
        for c in cpuset memory devices blkio freezer pids hugetlb perf_event "net_cls,net_prio"; do
                cg1_common "$c" 1
        done
        wr "$T/sys/fs/cgroup/freezer/freezer.state" THAWED
        cg1_cpu "" 1
        cg1_cpuset "" 1
        ln -s cpu,cpuacct "$T/sys/fs/cgroup/cpu"
        ln -s cpu,cpuacct "$T/sys/fs/cgroup/cpuacct"
        ln -s net_cls,net_prio "$T/sys/fs/cgroup/net_cls"
        ln -s net_cls,net_prio "$T/sys/fs/cgroup/net_prio"
        _u=$T/sys/fs/cgroup/unified
        mkdir -p "$_u"
        : > "$_u/cgroup.controllers"
        : > "$_u/cgroup.subtree_control"
        : > "$_u/cgroup.procs"
        : > "$_u/cgroup.threads"
        wr "$_u/cgroup.max.depth" max
        UNIFIED=sys/fs/cgroup/unified
        cat > "$T/proc/self/mountinfo" <<'EOF'
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
23 26 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8148772k,nr_inodes=2037193,mode=755,inode64
24 23 0:22 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=000
25 26 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1633804k,mode=755,inode64
26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
27 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - tmpfs cgroup_root rw,size=10240k,mode=755,inode64
28 27 0:25 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
29 27 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
30 27 0:27 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpuset
31 27 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
32 27 0:29 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,devices
33 27 0:30 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,blkio
34 27 0:31 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,freezer
35 27 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
36 27 0:33 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,hugetlb
37 27 0:34 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,net_cls,net_prio
38 27 0:35 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,perf_event
39 22 0:36 / /proc/sys/fs/binfmt_misc rw,nosuid,nodev,noexec,relatime shared:22 - binfmt_misc binfmt_misc rw
EOF
}
# v1_domain GROUP: a libvirt domain's groups (cpu,cpuacct and cpuset; memory,
# devices, blkio), with its "machine" parent. Per-thread children: v1_sub.
v1_domain() {
        cg1_cpu /machine 0
        cg1_cpuset /machine 0
        cg1_cpu "/machine/$1" 0
        cg1_cpuset "/machine/$1" 0
        for c in memory devices blkio; do
                cg1_common "$c/machine" 0
                cg1_common "$c/machine/$1" 0
        done
}
v1_sub() { # DOMAINGROUP SUB...
        _g=$1
        shift
        for s in "$@"; do
                cg1_cpu "/machine/$_g/$s" 0
                cg1_cpuset "/machine/$_g/$s" 0
        done
}

# v2 groups. TYPE: root, domain, "domain threaded", threaded. CONTROLLERS: what the
# parent enables (cgroup.controllers); SUBTREE: cgroup.subtree_control.
cg2() { # DIR TYPE CONTROLLERS SUBTREE
        _c=$T/sys/fs/cgroup$1
        mkdir -p "$_c"
        wr "$_c/cgroup.controllers" "$3"
        wr "$_c/cgroup.subtree_control" "$4"
        : > "$_c/cgroup.procs"
        : > "$_c/cgroup.threads"
        wr "$_c/cgroup.max.depth" max
        wr "$_c/cgroup.max.descendants" max
        wr "$_c/cpu.stat" "usage_usec 0" "user_usec 0" "system_usec 0" "nr_periods 0" "nr_throttled 0" \
                "throttled_usec 0" "nr_bursts 0" "burst_usec 0"
        if [ "$2" = root ]; then
                wr "$_c/cpuset.cpus.effective" $ALLCPUS
                wr "$_c/cpuset.mems.effective" 0
                return
        fi
        wr "$_c/cgroup.type" "$2"
        wr "$_c/cgroup.events" "populated 1" "frozen 0"
        wr "$_c/cpu.weight" 100
        wr "$_c/cpu.weight.nice" 0
        wr "$_c/cpu.max" "max 100000"
        wr "$_c/cpu.max.burst" 0
        wr "$_c/cpu.idle" 0
        wr "$_c/cpuset.cpus" ""         # empty: inherits the parent's (an empty line)
        wr "$_c/cpuset.cpus.effective" $ALLCPUS
        wr "$_c/cpuset.cpus.partition" member
        wr "$_c/cpuset.mems" ""
        wr "$_c/cpuset.mems.effective" 0
        case $3 in *memory*) wr "$_c/memory.max" max ;; esac
}

# fill_cgroups: the tasks / cgroup.procs / cgroup.threads files from the tasks'
# /proc/PID/task/TID/cgroup. v2: a process is listed in cgroup.procs of its threads'
# nearest non-threaded ancestor (reading it in a threaded group fails with
# EOPNOTSUPP on a real host; here it is empty).
fill_cgroups() {
        for cgf in "$T"/proc/[0-9]*/task/[0-9]*/cgroup; do
                _tid=${cgf%/cgroup}
                _tid=${_tid##*/}
                _pid=${cgf#"$T"/proc/}
                _pid=${_pid%%/*}
                while IFS=: read -r _id _ctrl _path; do
                        if [ "$_id" = 0 ]; then
                                _dir=$T/$UNIFIED${_path%/}
                                printf '%s\n' "$_tid" >> "$_dir/cgroup.threads"
                                while [ -f "$_dir/cgroup.type" ] && [ "$(cat "$_dir/cgroup.type")" = threaded ]; do
                                        _dir=${_dir%/*}
                                done
                                printf '%s\n' "$_pid" >> "$_dir/cgroup.procs"
                        else
                                _dir=$T/sys/fs/cgroup/$_ctrl${_path%/}
                                printf '%s\n' "$_tid" >> "$_dir/tasks"
                                printf '%s\n' "$_pid" >> "$_dir/cgroup.procs"
                        fi
                done < "$cgf"
        done
        find "$T/sys/fs/cgroup" \( -name tasks -o -name cgroup.procs -o -name cgroup.threads \) -type f |
        while read -r f; do
                sort -n -u "$f" > "$f.tmp"
                mv "$f.tmp" "$f"
        done
}

# common_procs CGROUP-OF-ROOT: init, kthreadd, a per-CPU kworker and the vhost
# kthread of another VM (vhost-9999, pid 5200), all in the root groups.
common_procs() {
        proc 1 0 1 1 1 2 small
        task 1 leader S 1 13 287 0 2211 89 "$1" init
        endproc
        proc 2 0 0 0 1 2 kernel
        task 2 kthread S 2 0 3 0 1048 2 "$1" kthreadd
        endproc
        proc 11 2 0 0 1 3 kernel
        AFF=0 AFFMASK=1
        task 11 kworker I 0 0 96 0 30317 11 "$1" kworker/0:1-events
        endproc
        proc 5200 2 0 0 1 148411 kernel
        task 5200 kthread S 3 0 512 0 88120 301 "$1" vhost-9999
        endproc
}

# ================================================================== a. vhost-task-v1
tree vhost-task-v1 618
v1_host
G=qemu-1-vr1.libvirt-qemu
v1_domain $G
v1_sub $G vcpu0 vcpu1 emulator iothread1
root=$(cg_v1 / /)
emu=$(cg_v1 /machine/$G/emulator /machine/$G)
common_procs "$root"
proc 4242 1 4242 4242 10 152034 qemu
#    TID  KIND          ST CPU UTIME STIME GUEST VCSW  NVCSW CGROUP                                     COMM
task 4242 leader        S  0   1520  860   0     81204 4471  "$emu" qemu-system-x86
task 4243 thread        S  1   0     2     0     311   4     "$emu" call_rcu
task 4244 thread        S  2   3     5     0     1207  9     "$emu" "IO mon_iothread"
task 4245 vcpu-in-guest R  1   3120  2210  3050  90876 23011 "$(cg_v1 /machine/$G/vcpu0 /machine/$G)" "CPU 0/KVM"
task 4246 thread        S  2   1210  905   1180  40112 8702  "$(cg_v1 /machine/$G/vcpu1 /machine/$G)" "CPU 1/KVM"
task 4247 uworker       R  3   0     4410  0     612002 9981 "$emu" vhost-4242
task 4248 uworker       S  3   0     2980  0     498321 7120 "$emu" vhost-4242
task 4249 thread        S  0   1     3     0     77    0     "$emu" worker
task 4250 thread        S  2   45    120   0     20931 311   "$(cg_v1 /machine/$G/iothread1 /machine/$G)" "IO iothread1"
task 4251 thread        S  0   0     0     0     3     0     "$emu" "x) (y"
endproc
fill_cgroups

# ================================================================== b. vhost-kthread-v2
# Pure cgroup v2, libvirt 9 with systemd-machined: the domain's scope has a "libvirt"
# child (the thread root, "domain threaded") with threaded children per thread.
# /proc as Debian 12's kernel 6.1 shows it. The vhost kthreads are in the root
# cgroup here (the brief's layout; see README.md: a real pre-6.4 kernel attaches them
# to the cgroups of the thread that called VHOST_SET_OWNER).
tree vhost-kthread-v2 61
UNIFIED=sys/fs/cgroup
S='/machine.slice/machine-qemu\x2d1\x2dvr1.scope'
cg2 "" root "cpuset cpu io memory hugetlb pids rdma misc" "cpuset cpu io memory pids"
cg2 /machine.slice domain "cpuset cpu io memory pids" "cpuset cpu io memory pids"
cg2 "$S" domain "cpuset cpu io memory pids" "cpuset cpu io memory pids"
cg2 "$S/libvirt" "domain threaded" "cpuset cpu io memory pids" "cpuset cpu"
cg2 "$S/libvirt/vcpu0" threaded "cpuset cpu" ""
cg2 "$S/libvirt/emulator" threaded "cpuset cpu" ""
cat > "$T/proc/self/mountinfo" <<'EOF'
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
23 26 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8148772k,nr_inodes=2037193,mode=755,inode64
24 23 0:22 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=000
25 26 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1633804k,mode=755,inode64
26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
27 21 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
28 21 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
29 22 0:26 / /proc/sys/fs/binfmt_misc rw,nosuid,nodev,noexec,relatime shared:22 - binfmt_misc binfmt_misc rw
EOF
common_procs "0::/"
emu="0::$S/libvirt/emulator"
proc 5000 1 5000 5000 3 152034 qemu
#    TID  KIND   ST CPU UTIME STIME GUEST VCSW  NVCSW CGROUP                  COMM
task 5000 leader S  0   1433  790   0     79110 4012  "$emu"                  qemu-system-x86
task 5001 thread R  1   2950  2001  2870  88410 21877 "0::$S/libvirt/vcpu0"   "CPU 0/KVM"
task 5002 thread S  2   3     4     0     1188  7     "$emu"                  "IO mon_iothread"
endproc
proc 5100 2 0 0 1 152061 kernel
task 5100 kthread R 3 0 4290 0 603117 9710 "0::/" vhost-5000
endproc
proc 5101 2 0 0 1 152061 kernel
task 5101 kthread S 2 0 2875 0 487220 6932 "0::/" vhost-5000
endproc
fill_cgroups

# ================================================================== c. tcg-v1
tree tcg-v1 618
v1_host
G=qemu-2-vr2.libvirt-qemu
v1_domain $G
v1_sub $G vcpu0 vcpu1 emulator
root=$(cg_v1 / /)
emu=$(cg_v1 /machine/$G/emulator /machine/$G)
common_procs "$root"
proc 6000 1 6000 6000 4 152034 qemu
#    TID  KIND   ST CPU UTIME STIME GUEST VCSW  NVCSW CGROUP                                     COMM
task 6000 leader R  0   2410  3120  0     210877 35120 "$emu" qemu-system-x86
task 6001 thread R  1   8812  402   0     30120 61004 "$(cg_v1 /machine/$G/vcpu0 /machine/$G)" "CPU 0/TCG"
task 6002 thread S  1   1320  97    0     12011 8877  "$(cg_v1 /machine/$G/vcpu1 /machine/$G)" "CPU 1/TCG"
task 6003 thread S  0   0     2     0     298   3     "$emu" call_rcu
endproc
fill_cgroups
# The tuner on this host runs without CAP_SYS_NICE (started by hand as a user): a
# refused RT class then says "needs root" (the other trees have no such file: root).
printf 'Name:\tvirt-router-tun\nCapEff:\t0000000000000000\n' > "$T/proc/self/status"

# ================================================================== d. lxc-napi-v1
tree lxc-napi-v1 618
v1_host
G=lxc-7001-ct1.libvirt-lxc
cg1_cpu /machine 0
cg1_cpuset /machine 0
cg1_cpu /machine/$G 0
cg1_cpuset /machine/$G 0
for c in memory devices blkio freezer; do
        cg1_common "$c/machine" 0
        cg1_common "$c/machine/$G" 0
done
wr "$T/sys/fs/cgroup/freezer/machine/freezer.state" THAWED
wr "$T/sys/fs/cgroup/freezer/machine/$G/freezer.state" THAWED
root=$(cg_v1 / /)
ct=$(cg_v1 /machine/$G /machine/$G /machine/$G)
common_procs "$root"
proc 7000 1 7000 7000 1 151200 small
task 7000 leader S 2 41 97 0 5120 33 "$root" libvirt_lxc
endproc
# the container's processes: pid 1 and 2 in its PID namespace
proc 7001 7000 7001 7001 1 151230 small 7000
task 7001 leader S 3 0 1 0 4 0 "$ct" sleep
endproc
proc 7002 7001 7002 7001 1 151231 small 7000
task 7002 leader S 1 2 3 0 31 1 "$ct" sh
endproc
# threaded NAPI (echo 1 > /sys/class/net/DEV/threaded): one kthread per NAPI
# instance, "napi/<dev>-<napi id>"; since 5.17 /proc shows a kthread's full name
proc 7100 2 0 0 1 150877 kernel
task 7100 kthread R 2 0 6120 0 301882 1207 "$root" napi/enp3s16f0-8193
endproc
proc 7101 2 0 0 1 150877 kernel
task 7101 kthread S 3 0 5871 0 299340 1173 "$root" napi/enp3s16f0-8194
endproc
proc 7102 2 0 0 1 150880 kernel
task 7102 kthread S 1 0 211 0 12021 40 "$root" napi/eth9-8200
endproc
fill_cgroups

# ================================================================== e. partitioned-v1
# vhost-task-v1 on a host whose admin gave each router CPU a root domain of its own:
# the top cpuset does not balance, machine (libvirt) keeps only housekeeping CPU 0,
# and /virt-router/cpu1..cpu3 are exclusive, load-balanced cpusets of one CPU each.
rm -rf partitioned-v1
cp -a vhost-task-v1 partitioned-v1
cs=partitioned-v1/sys/fs/cgroup/cpuset
echo 0 > "$cs/cpuset.sched_load_balance"
for g in "$cs/machine" "$cs/machine/qemu-1-vr1.libvirt-qemu" "$cs/machine/qemu-1-vr1.libvirt-qemu"/*/; do
        [ -f "$g/cpuset.cpus" ] && echo 0 > "$g/cpuset.cpus"
done
mkdir -p "$cs/virt-router"
echo 1-3 > "$cs/virt-router/cpuset.cpus"
echo 0 > "$cs/virt-router/cpuset.mems"
echo 0 > "$cs/virt-router/cpuset.cpu_exclusive"
echo 0 > "$cs/virt-router/cpuset.sched_load_balance"
: > "$cs/virt-router/tasks"
for n in 1 2 3; do
        mkdir -p "$cs/virt-router/cpu$n"
        echo "$n" > "$cs/virt-router/cpu$n/cpuset.cpus"
        echo 0 > "$cs/virt-router/cpu$n/cpuset.mems"
        echo 1 > "$cs/virt-router/cpu$n/cpuset.cpu_exclusive"
        echo 1 > "$cs/virt-router/cpu$n/cpuset.sched_load_balance"
        : > "$cs/virt-router/cpu$n/tasks"
done

#!/bin/sh
# Sanity checks of the committed fake /proc + cgroup trees in tests/data/proc/, so
# that hand edits cannot make them drift from what the kernel shows: every task has
# comm/stat/status/cgroup; stat has 52 fields, its pid is the directory name and the
# comm between the first '(' and the LAST ')' is the comm file; status agrees with
# stat; kernel threads (PF_KTHREAD) have PPid 2 and no mm; every cgroup path of a task
# exists under the tree's cgroup mounts (from its proc/self/mountinfo) and lists the
# task; and the trees are exactly what make-trees.sh generates.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
data=$top_srcdir/tests/data/proc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
PF_KTHREAD=2097152      # 0x00200000

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
# expect GOT WANT DESCRIPTION
expect() { if [ "$1" = "$2" ]; then ok; else bad "$3: '$1', expected '$2'"; fi; }

# field NAME FILE: the value of "NAME:\tvalue" in a status file
field() { awk -F'\t' -v k="$1:" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$2"; }

# sorted_set "a,b,c" -> "a,b,c" sorted
sorted_set() { printf '%s\n' "$1" | tr , '\n' | sort | tr '\n' , ; }

# mounts TREE: "KEY MOUNTPOINT" per cgroup mount in the tree's mountinfo; KEY is "@v2"
# for cgroup2, else the v1 hierarchy's sorted controller list (mount options that are
# not controllers dropped), as sorted_set makes it
mounts() {
        awk '{
                sep = index($0, " - ")          # optional fields end at " - "
                if (!sep) next
                split(substr($0, 1, sep - 1), a, " ")
                split(substr($0, sep + 3), b, " ")
                if (b[1] == "cgroup2") { print "@v2", a[5]; next }
                if (b[1] != "cgroup") next
                n = split(b[3], o, ",")
                c = ""
                for (i = 1; i <= n; i++)
                        if (o[i] !~ /^(rw|ro|xattr|noprefix|clone_children|cpuset_v2_mode|favordynmods|release_agent=.*)$/)
                                c = c "," o[i]
                print substr(c, 2), a[5]
        }' "$1/proc/self/mountinfo" |
        while read -r key mp; do
                [ "$key" = @v2 ] || key=$(sorted_set "$key")
                printf '%s %s\n' "$key" "$mp"
        done
}

check_tree() {
        t=$1 name=${1##*/}
        f0=$fail
        ntasks=0
        if [ ! -f "$t/proc/self/mountinfo" ]; then
                bad "$name: no proc/self/mountinfo"
                return
        fi
        mounts "$t" > "$tmp/mounts"
        if grep -q . "$tmp/mounts"; then ok; else bad "$name: no cgroup mount in mountinfo"; fi
        while read -r key mp; do
                if [ -d "$t$mp" ]; then ok; else bad "$name: mount point $mp ($key) is not a directory"; fi
        done < "$tmp/mounts"

        for pd in "$t"/proc/[0-9]*; do
                pid=${pd##*/}
                for f in comm stat status cgroup; do
                        if [ -f "$pd/$f" ]; then ok; else bad "$name: proc/$pid/$f missing"; fi
                done
                if [ -d "$pd/task/$pid" ]; then ok; else bad "$name: proc/$pid/task/$pid (the main thread) missing"; continue; fi
                expect "$(cat "$pd/comm")" "$(cat "$pd/task/$pid/comm")" "$name: proc/$pid/comm vs its main thread's"
                nth=0
                for td in "$pd"/task/[0-9]*; do nth=$((nth + 1)); done
                expect "$(field Threads "$pd/status")" "$nth" "$name: proc/$pid/status Threads vs task/ entries"

                for td in "$pd"/task/[0-9]*; do
                        tid=${td##*/}
                        w="$name: proc/$pid/task/$tid"
                        ntasks=$((ntasks + 1))
                        missing=0
                        for f in comm stat status cgroup; do
                                if [ -f "$td/$f" ]; then ok; else bad "$w/$f missing"; missing=1; fi
                        done
                        [ "$missing" = 0 ] || continue
                        comm=$(cat "$td/comm")
                        stat=$(cat "$td/stat")
                        # the comm is between the first '(' and the LAST ')'
                        scomm=$(printf '%s\n' "$stat" | sed -e 's/^[^(]*(//' -e 's/)[^)]*$//')
                        spid=${stat%% (*}
                        rest=$(printf '%s\n' "$stat" | sed 's/^.*) //')
                        # shellcheck disable=SC2086
                        set -- $rest
                        expect "$spid" "$tid" "$w/stat pid field"
                        expect "$scomm" "$comm" "$w/stat comm field"
                        expect "$(($# + 2))" 52 "$w/stat field count"
                        [ $# -ge 18 ] || continue
                        state=$1 ppid=$2 flags=$7 snth=${18}
                        expect "$(field Pid "$td/status")" "$tid" "$w/status Pid"
                        expect "$(field Tgid "$td/status")" "$pid" "$w/status Tgid"
                        expect "$(field Name "$td/status")" "$comm" "$w/status Name"
                        expect "$(field PPid "$td/status")" "$ppid" "$w/status PPid vs stat"
                        expect "$(field State "$td/status" | cut -c1)" "$state" "$w/status State vs stat"
                        expect "$snth" "$nth" "$w/stat num_threads"
                        expect "$(field Threads "$td/status")" "$nth" "$w/status Threads"
                        if [ -n "$(field Cpus_allowed_list "$td/status")" ]; then ok; else bad "$w/status has no Cpus_allowed_list"; fi
                        kthread_line=$(field Kthread "$td/status")
                        vmsize=$(field VmSize "$td/status")
                        if [ $((flags & PF_KTHREAD)) -ne 0 ]; then
                                [ "$tid" = 2 ] || expect "$ppid" 2 "$w: kernel thread's PPid"
                                expect "$tid" "$pid" "$w: a kernel thread is its own process"
                                expect "$vmsize" "" "$w: kernel thread has VmSize"
                                [ -z "$kthread_line" ] || expect "$kthread_line" 1 "$w/status Kthread"
                        else
                                if [ -n "$vmsize" ]; then ok; else bad "$w: user task without VmSize"; fi
                                [ -z "$kthread_line" ] || expect "$kthread_line" 0 "$w/status Kthread"
                        fi

                        # cgroups: each line's path exists under its hierarchy's mount, lists the task
                        nlines=0
                        while IFS=: read -r id ctrls path; do
                                nlines=$((nlines + 1))
                                if [ "$id" = 0 ] && [ -z "$ctrls" ]; then
                                        key=@v2 list=cgroup.threads
                                else
                                        key=$(sorted_set "$ctrls") list=tasks
                                fi
                                mp=$(awk -v k="$key" '$1 == k { print $2; exit }' "$tmp/mounts")
                                if [ -z "$mp" ]; then
                                        bad "$w/cgroup: no mount for hierarchy '$id:$ctrls'"
                                        continue
                                fi
                                dir=$t$mp${path%/}
                                if [ -d "$dir" ]; then ok; else bad "$w/cgroup: ${dir#"$t"} is not a directory"; continue; fi
                                if grep -qx "$tid" "$dir/$list" 2> /dev/null; then ok; else
                                        bad "$w/cgroup: $tid not in ${dir#"$t"}/$list"; fi
                        done < "$td/cgroup"
                        if [ "$nlines" -gt 0 ]; then ok; else bad "$w/cgroup is empty"; fi
                done
        done
        if [ "$ntasks" -gt 0 ]; then ok; else bad "$name: no tasks"; fi
        if [ "$fail" = "$f0" ]; then echo "PASS: $name ($ntasks tasks)"; fi
}

for want in vhost-task-v1 vhost-kthread-v2 tcg-v1 lxc-napi-v1; do
        if [ -d "$data/$want/proc" ]; then ok; else bad "tree $want missing"; fi
done
for t in "$data"/*/; do
        t=${t%/}
        [ -d "$t/proc" ] || continue
        check_tree "$t"
done

# the committed trees are what make-trees.sh makes (hand edits go into the script)
if [ -f "$data/make-trees.sh" ]; then
        mkdir "$tmp/regen"
        cp "$data/make-trees.sh" "$tmp/regen/"
        if sh "$tmp/regen/make-trees.sh" > "$tmp/regen.log" 2>&1; then
                ok
                for t in "$tmp"/regen/*/; do
                        t=${t%/}
                        if diff -r --no-dereference "$data/${t##*/}" "$t" > "$tmp/diff" 2>&1; then
                                ok; echo "PASS: ${t##*/} matches make-trees.sh"
                        else
                                bad "${t##*/} differs from make-trees.sh output (re-run it, or edit the script):"
                                head -20 "$tmp/diff" | sed 's/^/  | /'
                        fi
                done
        else
                bad "make-trees.sh failed"
                sed 's/^/  | /' "$tmp/regen.log"
        fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

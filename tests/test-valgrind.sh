#!/bin/sh
# The XML corpus and the CLI under valgrind: no leaks, no invalid access.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/build}
VIRT_ROUTER=${VIRT_ROUTER:-$top_builddir/virt-router}
VALGRIND=${VALGRIND:-$(command -v valgrind)}
export top_srcdir top_builddir
export VIRT_ROUTER_TEMPLATE_DIR="${VIRT_ROUTER_TEMPLATE_DIR:-$top_srcdir/xml-templates}"
if [ -z "$VALGRIND" ] || [ ! -x "$VALGRIND" ]; then
        echo "SKIP: valgrind not installed"
        exit 77
fi
# libtool wraps uninstalled programs in scripts: run the real binaries.
bin() { if [ -x "$top_builddir/$1/.libs/$2" ]; then echo "$top_builddir/$1/.libs/$2"; else echo "$top_builddir/$1/$2"; fi; }
vg() {
        G_SLICE=always-malloc G_DEBUG=gc-friendly "$VALGRIND" -q --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
                --trace-children=no --child-silent-after-fork=no "$@"
}
pass=0 fail=0
check() { # DESC EXPECTED-RC CMD...
        desc=$1 want=$2
        shift 2
        vg "$@" > /dev/null 2> "$tmpf"
        rc=$?
        if [ "$rc" -eq "$want" ]; then pass=$((pass + 1)); echo "PASS: $desc"
        else fail=$((fail + 1)); echo "FAIL: $desc (exit $rc, expected $want)"; tail -40 "$tmpf"; fi
}
tmpf=$(mktemp)
trap 'rm -f "$tmpf"' EXIT
check "test-xml corpus (every case, forked)" 0 "$(bin tests test-xml)"
check "test-drift corpus (every case, forked)" 0 "$(bin tests test-drift)"
check "test-units" 0 "$(bin tests test-units)"
check "test-tune corpus (discovery and plans on the fake trees)" 0 "$(bin tests test-tune)"
check "test-guest-config (the guest's parser on the rewrite's texts)" 0 "$(bin tests test-guest-config)"
data=$top_srcdir/tests/data
check "apply" 0 "$(bin . virt-router)" apply --config "$data/xml/host.conf" "$data/xml/preserve-everything.xml"
check "apply error path" 1 "$(bin . virt-router)" apply --config "$data/xml/host.conf" "$data/xml/err-bad-values.xml"
check "apply --domain (libvirt's test driver: diff, redefine)" 0 "$(bin . virt-router)" apply --domain vr1 -c "test://$data/libvirt/node.xml" --config "$data/xml/host.conf"
check "apply --domain, libvirt error path" 3 "$(bin . virt-router)" apply --domain nope -c "test://$data/libvirt/node.xml" --config "$data/xml/host.conf"
check "render" 0 "$(bin . virt-router)" render lxc-macvlan -c "$data/render/host.conf" --port wan=h0
check "check --json" 0 "$(bin . virt-router)" check --json -c "$data/xml/host.conf" "$data/xml/lxc-macvlan.xml"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

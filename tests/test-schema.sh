#!/bin/sh
# Validate router policies against xml-templates/virt-router.rng.
#
# Checked:
#   - the <vr:router> elements of every tests/data/xml/NAME.xml that the C code
#     accepts (a NAME.expected.xml exists);
#   - the <vr:router> elements of every tests/data/render/*.expected.xml;
#   - the default policies of the templates, xml-templates/*.xml;
#   - built-in cases below: some that must validate, some that must be rejected.
# Each <vr:router> is extracted into a standalone document (the element is the root)
# and validated with xmllint. Exit: 0 all passed, 1 something failed, 77 skipped
# (no xmllint), 99 hard error.
#
# Environment: top_srcdir (default: the directory above this script), XMLLINT.

set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
XMLLINT=${XMLLINT:-xmllint}
schema=$top_srcdir/xml-templates/virt-router.rng
ns=urn:virt-router:1
xp="//*[local-name()='router' and namespace-uri()='$ns']"

if ! command -v "$XMLLINT" >/dev/null 2>&1; then
        echo "SKIP: xmllint not found (Debian: apt-get install libxml2-utils)"
        exit 77
fi
if [ ! -r "$schema" ]; then
        echo "ERROR: schema $schema not found"
        exit 99
fi

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/vr-test-schema.XXXXXX") || exit 99
trap 'rm -rf "$tmpdir"' 0
trap 'exit 99' HUP INT TERM

# XInclude keeps the base URI as an xml:base attribute unless told not to (the schema
# allows foreign attributes anyway, so older xmllint versions still work).
nofixup=
if "$XMLLINT" --help 2>&1 | grep -q -- '--nofixup-base-uris'; then
        nofixup=--nofixup-base-uris
fi

passed=0
failed=0

pass() {
        passed=$((passed + 1))
        echo "PASS: $1"
}

fail() {
        failed=$((failed + 1))
        echo "FAIL: $1"
        if [ -s "$tmpdir/log" ]; then
                sed 's/^/    /' "$tmpdir/log"
        fi
}

# The path of $1 relative to $top_srcdir, for messages.
rel() {
        case $1 in
        "$top_srcdir"/*) echo "${1#"$top_srcdir"/}" ;;
        *) echo "$1" ;;
        esac
}

# validate FILE: 0 if FILE validates against the schema; messages in $tmpdir/log.
validate() {
        "$XMLLINT" --noout --relaxng "$schema" "$1" >"$tmpdir/log" 2>&1
        rc=$?
        # xmllint prints "FILE validates" on success: keep the log for failures only.
        [ $rc -eq 0 ] && : >"$tmpdir/log"
        return $rc
}

# check_domain FILE: validate every <vr:router> of a domain XML file.
check_domain() {
        f=$1
        name=$(rel "$f")
        n=$("$XMLLINT" --xpath "count($xp)" "$f" 2>"$tmpdir/log")
        case $n in
        '' | *[!0-9]*)
                fail "$name: not well-formed XML"
                return
                ;;
        0)
                echo "SKIP: $name: no <vr:router> element"
                return
                ;;
        esac
        # A copy under a fixed name: the XInclude href needs no URI escaping.
        cp "$f" "$tmpdir/domain.xml" || exit 99
        i=1
        while [ "$i" -le "$n" ]; do
                label=$name
                [ "$n" -gt 1 ] && label="$name (router $i of $n)"
                # Extract the i-th router as the root of a document of its own. An
                # XInclude of it (rather than printing the node with xmllint --xpath)
                # keeps the namespace declarations made on its ancestors, e.g. an
                # xmlns:vr on <domain>.
                cat >"$tmpdir/include.xml" <<EOF
<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="domain.xml" parse="xml" xpointer="xpointer(($xp)[$i])"/>
EOF
                if ! "$XMLLINT" --xinclude $nofixup "$tmpdir/include.xml" \
                        >"$tmpdir/router.xml" 2>"$tmpdir/log"; then
                        fail "$label: cannot extract <vr:router>"
                elif validate "$tmpdir/router.xml"; then
                        pass "$label"
                else
                        # libxml2's messages can be vague ("Extra element cpu in
                        # interleave" for a bad attribute): show what was checked.
                        echo "  extracted element (line numbers above refer to it):" >>"$tmpdir/log"
                        sed -n '2,41s/^/  | /p' "$tmpdir/router.xml" >>"$tmpdir/log"
                        fail "$label"
                fi
                i=$((i + 1))
        done
}

# check_inline EXPECT LABEL: validate the document on stdin; EXPECT is valid or invalid.
check_inline() {
        expect=$1
        label="built-in: $2"
        cat >"$tmpdir/inline.xml"
        if validate "$tmpdir/inline.xml"; then
                got=valid
        else
                got=invalid
        fi
        if [ "$got" = "$expect" ]; then
                : >"$tmpdir/log"
                pass "$label ($got as expected)"
        else
                [ "$got" = valid ] && echo "schema accepted what it must reject" >"$tmpdir/log"
                fail "$label (expected $expect, got $got)"
        fi
}

# ---------------------------------------------------------------------------------
# Test data: apply inputs the C code accepts, render outputs, templates.
# ---------------------------------------------------------------------------------
for f in "$top_srcdir"/tests/data/xml/*.xml; do
        [ -f "$f" ] || continue
        case $f in
        *.expected.xml) continue ;;
        esac
        [ -f "${f%.xml}.expected.xml" ] || continue
        check_domain "$f"
done

for f in "$top_srcdir"/tests/data/render/*.expected.xml; do
        [ -f "$f" ] || continue
        check_domain "$f"
done

# The templates render starts from carry a default policy too.
for f in "$top_srcdir"/xml-templates/*.xml; do
        [ -f "$f" ] || continue
        check_domain "$f"
done

# ---------------------------------------------------------------------------------
# Built-in cases that must validate.
# ---------------------------------------------------------------------------------
check_inline valid "every element and attribute" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1" profile="edge" mode="best-effort">
  <vr:strip devices="sound graphics video input usb memballoon redirdev watchdog smartcard"/>
  <vr:port name="wan" mode="vf" pf="eth0" vlan="100" mac="52:54:00:12:34:56" trust="yes" spoofchk="no"/>
  <vr:cpu placement="dedicated" cpus="2-3,5" housekeeping="0" shares="2048"/>
  <vr:sched threads="vcpu vhost" class="deadline" runtime="300us" deadline="0.5ms" period="1ms"/>
  <vr:port name="lan.0" mode="macvtap" dev="eth1" queue="50" rx-queue-size="1024" tx-queue-size="256"
           queues="2" macvtap-mode="bridge" backend="vhost"/>
  <vr:port name="vf-2" mode="vf" vf="0000:3b:02.1"/>
  <vr:port name="pool" mode="vf" network="vfpool-eth0"/>
  <vr:sched threads="emulator iothread" class="other" nice="-5"/>
  <vr:sched threads="napi" class="fifo" priority="50"/>
  <vr:address port="wan" ip="192.0.2.1/24"/>
  <vr:guarantee rate="800kpps" burst="64" delay="2ms" bandwidth="100Mbit/s"/>
  <vr:address port="lan.0" ip="2001:db8::1/64"/>
  <vr:route to="default" via="192.0.2.254"/>
  <vr:route to="198.51.100.0/24" via="192.0.2.253"/>
  <vr:route to="::/0" via="2001:db8::fffe"/>
</vr:router>
EOF

check_inline valid "default namespace, LXC macvlan, foreign attributes" <<'EOF'
<router xmlns="urn:virt-router:1" xmlns:x="urn:example:other" x:note="ignored" xml:lang="en">
  <cpu placement="shared" cpus="1" x:note="ignored"/>
  <sched threads="napi" class="rr"/>
  <sched threads="vcpu" class="idle"/>
  <port name="eth0" mode="macvlan" dev="veth0"/>
  <guarantee rate="1.2Mpps" delay="1.5ms" bandwidth="1Gbps"/>
</router>
EOF

check_inline valid "empty router" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"/>
EOF

# ---------------------------------------------------------------------------------
# Built-in cases that must be rejected.
# ---------------------------------------------------------------------------------
check_inline invalid "unknown element <vr:bogus/>" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:bogus/></vr:router>
EOF

check_inline invalid "placement='maybe'" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:cpu placement="maybe"/></vr:router>
EOF

check_inline invalid "duration without unit runtime='300'" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1">
  <vr:sched threads="vcpu" class="deadline" runtime="300" period="1ms"/>
</vr:router>
EOF

check_inline invalid "unknown attribute on <vr:cpu>" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:cpu cpus="2" speed="fast"/></vr:router>
EOF

check_inline invalid "vlan='5000'" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:port name="wan" mode="vf" pf="eth0" vlan="5000"/></vr:router>
EOF

check_inline invalid "port name longer than 15 characters" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:port name="a-very-long-port-name" mode="macvtap" dev="eth0"/></vr:router>
EOF

check_inline invalid "macvtap port without dev" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:port name="lan" mode="macvtap"/></vr:router>
EOF

check_inline invalid "priority with class='other'" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:sched threads="vcpu" class="other" priority="10"/></vr:router>
EOF

check_inline invalid "unknown thread kind" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:sched threads="vcpu qemu" class="fifo"/></vr:router>
EOF

check_inline invalid "multicast MAC" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:port name="wan" mode="vf" pf="eth0" mac="01:00:5e:00:00:01"/></vr:router>
EOF

check_inline invalid "address without prefix length" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:address port="wan" ip="192.0.2.1"/></vr:router>
EOF

check_inline invalid "packet rate without unit" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:guarantee rate="800000" delay="2ms"/></vr:router>
EOF

check_inline invalid "blank around a value" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:port name="wan" mode="vf " pf="eth0"/></vr:router>
EOF

check_inline invalid "two <vr:cpu> elements" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:cpu cpus="2"/><vr:cpu cpus="3"/></vr:router>
EOF

check_inline invalid "vlan on a macvtap port" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><vr:port name="lan" mode="macvtap" dev="eth0" vlan="100"/></vr:router>
EOF

check_inline invalid "element of another namespace inside <vr:router>" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:1"><x:note xmlns:x="urn:example:other"/></vr:router>
EOF

check_inline invalid "router in another version of the namespace" <<'EOF'
<vr:router xmlns:vr="urn:virt-router:2"/>
EOF

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

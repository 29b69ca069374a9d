#!/bin/sh
# The virt-router command as users run it: --help for every subcommand, exit codes,
# stdin/stdout and -o, byte-identical pass-through of non-router domains, check --json.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
VIRT_ROUTER=${VIRT_ROUTER:-$top_srcdir/build/virt-router}
export VIRT_ROUTER_TEMPLATE_DIR="${VIRT_ROUTER_TEMPLATE_DIR:-$top_srcdir/xml-templates}"
data=$top_srcdir/tests/data
conf=$data/xml/host.conf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

if [ ! -x "$VIRT_ROUTER" ]; then
        echo "SKIP: $VIRT_ROUTER not built"
        exit 77
fi

ok() { pass=$((pass + 1)); echo "PASS: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

# expect_rc WANT DESCRIPTION CMD...: run CMD, stdout/stderr to $tmp/out, $tmp/err
expect_rc() {
        want=$1 desc=$2
        shift 2
        "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null
        rc=$?
        if [ "$rc" -eq "$want" ]; then ok "$desc"; else bad "$desc (exit $rc, expected $want)"; sed 's/^/  | /' "$tmp/err"; fi
}

contains() { # FILE STRING DESCRIPTION
        if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3 (no '$2' in output)"; sed 's/^/  | /' "$1"; fi
}

expect_rc 0 "virt-router --help" "$VIRT_ROUTER" --help
contains "$tmp/out" "render" "--help lists render"
expect_rc 0 "virt-router --version" "$VIRT_ROUTER" --version
expect_rc 2 "no command is a usage error" "$VIRT_ROUTER"
expect_rc 2 "unknown command" "$VIRT_ROUTER" frobnicate
contains "$tmp/err" "unknown command 'frobnicate'" "unknown command is named"
for cmd in render apply check templates; do
        expect_rc 0 "$cmd --help" "$VIRT_ROUTER" "$cmd" --help
        contains "$tmp/out" "Usage:" "$cmd --help shows usage"
done
expect_rc 2 "unknown option" "$VIRT_ROUTER" apply --bogus
contains "$tmp/err" "Try 'virt-router apply --help'" "usage error points to --help"
expect_rc 0 "templates" "$VIRT_ROUTER" templates
contains "$tmp/out" "lxc-vf" "templates lists lxc-vf"

# apply: stdin to stdout, file to -o, errors
"$VIRT_ROUTER" apply --config "$conf" - < "$data/xml/kvm-macvtap-basic.xml" > "$tmp/a.xml" 2> "$tmp/err"
if cmp -s "$tmp/a.xml" "$data/xml/kvm-macvtap-basic.expected.xml"; then ok "apply from stdin"; else bad "apply from stdin"; fi
expect_rc 0 "apply FILE -o OUT" "$VIRT_ROUTER" apply --config "$conf" -o "$tmp/b.xml" "$data/xml/kvm-macvtap-basic.xml"
if cmp -s "$tmp/b.xml" "$data/xml/kvm-macvtap-basic.expected.xml"; then ok "apply -o writes the result"; else bad "apply -o writes the result"; fi
expect_rc 0 "apply of a non-router domain" "$VIRT_ROUTER" apply --config "$conf" "$data/xml/not-a-router.xml"
if cmp -s "$tmp/out" "$data/xml/not-a-router.xml"; then ok "non-router domain passes byte for byte"; else bad "non-router domain passes byte for byte"; fi
expect_rc 1 "apply of bad policy exits 1" "$VIRT_ROUTER" apply --config "$conf" "$data/xml/err-bad-values.xml"
contains "$tmp/err" "/tests/data/xml/err-bad-values.xml:9: domain 'vr1': <vr:port name='lan'> attribute vlan='5000'" "error names file, line, domain, element, value"
if [ ! -s "$tmp/out" ]; then ok "nothing on stdout on error"; else bad "nothing on stdout on error"; fi
cp "$data/xml/kvm-macvtap-basic.xml" "$tmp/keep.xml"
expect_rc 1 "apply -o is not written on error" "$VIRT_ROUTER" apply --config "$conf" -o "$tmp/keep.xml" "$data/xml/err-txq.xml"
if cmp -s "$tmp/keep.xml" "$data/xml/kvm-macvtap-basic.xml"; then ok "existing -o file untouched on error"; else bad "existing -o file untouched on error"; fi
expect_rc 3 "missing input file exits 3" "$VIRT_ROUTER" apply --config "$conf" "$tmp/nonexistent.xml"
expect_rc 3 "missing host config exits 3" "$VIRT_ROUTER" apply --config "$tmp/none.conf" "$data/xml/kvm-macvtap-basic.xml"
printf '[host]\nrouter-cpus=nope\n' > "$tmp/bad.conf"
expect_rc 1 "bad host config exits 1" "$VIRT_ROUTER" apply --config "$tmp/bad.conf" "$data/xml/kvm-macvtap-basic.xml"
contains "$tmp/err" "bad.conf: [host] router-cpus='nope'" "host config error names file and key"
expect_rc 1 "truncated XML exits 1" "$VIRT_ROUTER" apply --config "$conf" "$data/xml/err-truncated.xml"
# UTF-16 and a NUL byte (issue 15): refused as the hook refuses them, not decoded
iconv -f UTF-8 -t UTF-16 "$data/xml/kvm-macvtap-basic.xml" > "$tmp/utf16.xml"
expect_rc 1 "apply of a UTF-16 domain exits 1" "$VIRT_ROUTER" apply --config "$conf" "$tmp/utf16.xml"
contains "$tmp/err" "utf16.xml: a NUL byte at offset 3: expected a domain XML in UTF-8" "UTF-16 refused with the reason"
{ head -c 20 "$data/xml/kvm-macvtap-basic.xml"; printf '\0'; tail -c +21 "$data/xml/kvm-macvtap-basic.xml"; } > "$tmp/nul.xml"
expect_rc 1 "check of a domain with a NUL byte exits 1" "$VIRT_ROUTER" check --config "$conf" "$tmp/nul.xml"
contains "$tmp/err" "nul.xml: a NUL byte at offset 20" "the NUL byte's offset is named"
expect_rc 2 "two input files is a usage error" "$VIRT_ROUTER" apply a.xml b.xml

# apply --domain, against libvirt's test driver (in the client library: no daemon; every
# connection reads the file afresh, so a redefine lasts only as long as its connection)
uri=test://$data/libvirt/node.xml
expect_rc 0 "apply --domain shows the change and redefines" "$VIRT_ROUTER" apply --domain vr1 -c "$uri" --config "$conf"
contains "$tmp/out" "--- a/vr1.xml" "the diff's labels name the domain"
contains "$tmp/out" "+      <alias name='ua-vr-wan'/>" "the diff shows the port taking over the domain's macvtap"
contains "$tmp/err" "domain 'vr1' redefined" "apply --domain says it redefined"
contains "$tmp/err" "domain 'vr1' is running: the new definition takes effect at its next start" "a running domain is told when the change takes effect"
expect_rc 0 "apply --domain --dry-run" "$VIRT_ROUTER" apply -d vr1 -c "$uri" --config "$conf" --dry-run
contains "$tmp/out" "+  <cputune>" "--dry-run shows the diff"
if grep -q "domain 'vr1' redefined" "$tmp/err"; then bad "--dry-run redefines nothing"; else ok "--dry-run redefines nothing"; fi
LIBVIRT_DEFAULT_URI=$uri expect_rc 0 "apply --domain takes LIBVIRT_DEFAULT_URI" "$VIRT_ROUTER" apply -d vr1 -n --config "$conf"
expect_rc 0 "apply --domain of a domain that honours its policy" "$VIRT_ROUTER" apply -d done1 -c "$uri" --config "$conf"
if [ ! -s "$tmp/out" ] && [ "$(wc -l < "$tmp/err")" -eq 1 ]; then ok "nothing to change: no diff, one line"; else bad "nothing to change: no diff, one line"; sed 's/^/  | /' "$tmp/out" "$tmp/err"; fi
contains "$tmp/err" "domain 'done1' already honours its router policy: nothing to change" "nothing to change is said"
expect_rc 4 "apply --domain of a domain without policy exits 4 (as check)" "$VIRT_ROUTER" apply -d web1 -c "$uri" --config "$conf"
contains "$tmp/err" "domain 'web1' has no router policy" "no policy names the domain"
contains "$tmp/err" "virsh metadata web1 urn:virt-router:1 --key vr --set" "no policy says how to attach one"
expect_rc 1 "apply --domain of a bad policy exits 1" "$VIRT_ROUTER" apply -d bad1 -c "$uri" --config "$conf"
contains "$tmp/err" "<libvirt>:6: domain 'bad1': <vr:port name='wan'> attribute vlan='5000'" "a policy error names the line of the domain's XML"
if [ ! -s "$tmp/out" ]; then ok "no diff on a policy error"; else bad "no diff on a policy error"; fi
# The definition is read with its secrets (the redefine must keep a graphics password), the
# diff is not: it would print the password that stripping <graphics> removes.
expect_rc 0 "apply --domain of a domain with a graphics password" "$VIRT_ROUTER" apply -d gfx1 -c "$uri" --config "$conf"
contains "$tmp/out" "-    <graphics type='vnc'" "the diff shows <graphics> stripped"
if grep -q "s3cret-vr-gfx1" "$tmp/out" "$tmp/err"; then bad "the diff shows no secret"; sed 's/^/  | /' "$tmp/out"; else ok "the diff shows no secret"; fi
contains "$tmp/err" "domain 'gfx1' redefined" "a domain with a graphics password is redefined"
expect_rc 0 "apply --domain --dry-run of a domain with a graphics password" "$VIRT_ROUTER" apply -d gfx1 -c "$uri" --config "$conf" --dry-run
if grep -q "s3cret-vr-gfx1" "$tmp/out" "$tmp/err"; then bad "--dry-run shows no secret"; sed 's/^/  | /' "$tmp/out"; else ok "--dry-run shows no secret"; fi
expect_rc 3 "apply --domain of an unknown domain exits 3" "$VIRT_ROUTER" apply -d nope -c "$uri" --config "$conf"
if [ "$(cat "$tmp/err")" = "virt-router: domain 'nope': Domain not found" ]; then ok "libvirt's error is printed once, naming the domain"; else bad "libvirt's error is printed once, naming the domain"; sed 's/^/  | /' "$tmp/err"; fi
LIBVIRT_DEFAULT_URI=$uri expect_rc 3 "apply --domain of an unknown domain on LIBVIRT_DEFAULT_URI exits 3" "$VIRT_ROUTER" apply -d nope --config "$conf"
if [ "$(cat "$tmp/err")" = "virt-router: domain 'nope': Domain not found" ]; then ok "a URI someone chose gets no container hint"; else bad "a URI someone chose gets no container hint"; sed 's/^/  | /' "$tmp/err"; fi
# No -c, no LIBVIRT_DEFAULT_URI: qemu:///system, which only a running libvirtd answers.
expect_rc 3 "apply --domain on the default URI" env -u LIBVIRT_DEFAULT_URI "$VIRT_ROUTER" apply -d "vr-no-such-domain-$$" --config "$conf"
if grep -qF "cannot connect to qemu:///system" "$tmp/err"; then
        echo "SKIP: the container hint on qemu:///system (no libvirtd answers here)"
else
        contains "$tmp/err" "virt-router: domain 'vr-no-such-domain-$$': " "a domain not found on the default URI is named"
        contains "$tmp/err" " (a container? use -c lxc:///system)" "a domain not found on the default URI hints at -c lxc:///system"
fi
expect_rc 3 "apply --domain with an unreachable URI exits 3" "$VIRT_ROUTER" apply -d vr1 -c "test://$tmp/none.xml" --config "$conf"
contains "$tmp/err" "domain 'vr1': cannot connect to test://$tmp/none.xml: " "a connection error names the domain and the URI"
expect_rc 2 "apply -c FILE (the old --config) is a usage error" "$VIRT_ROUTER" apply -c "$conf" "$data/xml/kvm-macvtap-basic.xml"
contains "$tmp/err" "-c is --connect URI, as in virsh; give the host config as --config FILE" "apply -c FILE says -c is --connect now"
expect_rc 2 "--connect without --domain" "$VIRT_ROUTER" apply -c "$uri" "$data/xml/kvm-macvtap-basic.xml"
expect_rc 2 "--dry-run without --domain" "$VIRT_ROUTER" apply --dry-run "$data/xml/kvm-macvtap-basic.xml"
expect_rc 2 "--domain with an input file" "$VIRT_ROUTER" apply -d vr1 -c "$uri" "$data/xml/kvm-macvtap-basic.xml"
expect_rc 2 "--domain with -o" "$VIRT_ROUTER" apply -d vr1 -c "$uri" -o "$tmp/x.xml"

# check
expect_rc 0 "check a router" "$VIRT_ROUTER" check -c "$conf" "$data/xml/kvm-macvtap-dedicated.xml"
contains "$tmp/out" "valid router policy" "check says valid"
expect_rc 0 "check --json" "$VIRT_ROUTER" check -c "$conf" --json "$data/xml/deadline-sched.xml"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["sched"][0]["runtime_ns"]==300000 and d["ports"][1]["queue"]==50' "$tmp/out" 2>/dev/null; then
        ok "check --json is JSON with the parsed values"
else
        bad "check --json is JSON with the parsed values"; sed 's/^/  | /' "$tmp/out"
fi
# What apply would change, as the hook's prepare checks it.
expect_rc 0 "check a router whose policy was never applied" "$VIRT_ROUTER" check -c "$data/drift/host.conf" "$data/drift/e1000-not-applied.xml"
contains "$tmp/out" "  definition: differs from the policy" "check says the definition differs from the policy"
contains "$tmp/out" "    port 'wan' has no device, the policy says <interface type='direct'> on eth1" "check names the missing port"
"$VIRT_ROUTER" apply --config "$data/drift/host.conf" "$data/drift/e1000-not-applied.xml" >"$tmp/applied.xml" 2>/dev/null
expect_rc 0 "check the same router applied" "$VIRT_ROUTER" check -c "$data/drift/host.conf" "$tmp/applied.xml"
contains "$tmp/out" "  definition: as the policy says" "check says an applied definition is as the policy says"
expect_rc 4 "check of a non-router exits 4" "$VIRT_ROUTER" check -c "$conf" "$data/xml/not-a-router.xml"
for other in not-a-router-xen not-a-router-test-driver not-a-router-no-devices not-a-router-no-name; do
        expect_rc 4 "check of $other exits 4" "$VIRT_ROUTER" check -c "$conf" "$data/xml/$other.xml"
        contains "$tmp/out" ": not a router" "check of $other says not a router"
        "$VIRT_ROUTER" apply --config "$conf" "$data/xml/$other.xml" >"$tmp/other.xml" 2>"$tmp/err"
        if cmp -s "$tmp/other.xml" "$data/xml/$other.xml"; then ok "apply passes $other through byte for byte"; else bad "apply of $other"; fi
done
# Text and --json show the same policy: each key of --json has its word in the text
# ('_' as '-', the unit suffix dropped, a list's key singular, "derive" as "derived"),
# for a policy that sets every field.
cat >"$tmp/full.xml" <<'XML'
<domain type='kvm'>
  <name>full</name>
  <vcpu>2</vcpu>
  <metadata>
    <vr:router xmlns:vr='urn:virt-router:1' profile='edge' mode='best-effort'>
      <vr:cpu placement='dedicated' cpus='2-3' shares='4096'/>
      <vr:sched threads='vcpu' class='deadline' runtime='200us' deadline='800us' period='1ms'/>
      <vr:sched threads='vhost' class='fifo' priority='20'/>
      <vr:sched threads='emulator' class='other' nice='5'/>
      <vr:port name='wan' mode='macvtap' dev='eth0' mac='52:54:00:00:00:01' queues='2' tx-queue-size='256' backend='vhost'/>
      <vr:port name='lan' mode='vf' pf='eth3' network='vfpool-eth3' vlan='100' trust='yes' spoofchk='no'/>
      <vr:port name='mgmt' mode='vf' vf='0000:03:10.1'/>
      <vr:guarantee rate='100kpps' burst='64' delay='30ms' bandwidth='1Gbit/s'/>
      <vr:address port='wan' ip='192.0.2.1/24'/>
      <vr:route to='default' via='192.0.2.254'/>
      <vr:strip devices='sound usb'/>
    </vr:router>
  </metadata>
  <devices/>
</domain>
XML
expect_rc 0 "check --json of a policy with every field" "$VIRT_ROUTER" check -c "$conf" --json "$tmp/full.xml"
cp "$tmp/out" "$tmp/full.json"
expect_rc 0 "check of a policy with every field" "$VIRT_ROUTER" check -c "$conf" "$tmp/full.xml"
missing=$(python3 - "$tmp/full.json" "$tmp/out" <<'PY'
import json, re, sys
keys = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            keys.add(k)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(json.load(open(sys.argv[1])))
words = set(re.findall(r"[a-z][a-z-]*", open(sys.argv[2]).read()))
def shown(k):
    w = re.sub(r"_(ns|pps|bps)$", "", k).replace("_", "-")
    forms = {w, re.sub(r"es$", "", w), re.sub(r"s$", "", w)}
    return any(f + end in words for f in forms for end in ("", "s", "d", "ed"))
print(" ".join(sorted(k for k in keys if not shown(k))))
PY
)
if [ -z "$missing" ]; then ok "check's text shows every key of --json"; else bad "check's text lacks: $missing"; sed 's/^/  | /' "$tmp/out"; fi
expect_rc 1 "check of a bad policy exits 1" "$VIRT_ROUTER" check -c "$conf" "$data/xml/err-two-routers.xml"
# A policy the domain's own devices conflict with: check refuses it with apply's lines.
for c in err-strip-usb-user-devices err-vf-held-by-hostdev err-vf-held-by-hostdev-no-domain err-lxc-port-name-lo-hostdev; do
        expect_rc 1 "apply of $c exits 1" "$VIRT_ROUTER" apply --config "$conf" "$data/xml/$c.xml"
        cp "$tmp/err" "$tmp/apply-err"
        expect_rc 1 "check of $c exits 1" "$VIRT_ROUTER" check --config "$conf" "$data/xml/$c.xml"
        if cmp -s "$tmp/err" "$tmp/apply-err"; then ok "check of $c says what apply says"; else bad "check of $c says what apply says"; diff "$tmp/apply-err" "$tmp/err" | sed 's/^/  | /'; fi
        contains "$tmp/out" "  definition: conflicts with the policy (apply refuses it):" "check of $c says the definition conflicts"
done
# Containers whose pf= ports need the VF facts: check --sysroot says what apply --sysroot says.
for c in err-lxc-port-name-libvirt-eth0 err-lxc-port-name-guest-dev; do
        cconf="$data/xml/$c.conf"
        [ -f "$cconf" ] || cconf="$conf"
        expect_rc 1 "apply of $c exits 1" "$VIRT_ROUTER" apply --config "$cconf" --sysroot "$data/sysroot/sriov" "$data/xml/$c.xml"
        cp "$tmp/err" "$tmp/apply-err"
        expect_rc 1 "check --sysroot of $c exits 1" "$VIRT_ROUTER" check --config "$cconf" --sysroot "$data/sysroot/sriov" "$data/xml/$c.xml"
        if cmp -s "$tmp/err" "$tmp/apply-err"; then ok "check of $c says what apply says"; else bad "check of $c says what apply says"; diff "$tmp/apply-err" "$tmp/err" | sed 's/^/  | /'; fi
done

# status: only tuner state counts (the hook keeps other JSON files beside it)
mkdir -p "$tmp/state"
cat >"$tmp/state/vrx.json" <<JSON
{"domain": "vrx", "type": "qemu", "pid": 999999, "tuner_pid": 999998, "events": "proc connector",
 "threads": [{"tid": 999997, "role": "vcpu0", "comm": "CPU 0/KVM", "kthread": false, "cpus": "1", "class": "fifo", "applied": true, "error": null}],
 "cgroup_writes": [], "notes": [], "errors": []}
JSON
echo '{"pid": 1, "napi_devs": [], "policy": {}}' >"$tmp/state/vrx.spec.json"
echo '{"txqlen": [], "vf_flags": []}' >"$tmp/state/vrx.hook.json"
expect_rc 0 "status" "$VIRT_ROUTER" status --state-dir "$tmp/state" --interval 10
contains "$tmp/out" "vrx (qemu, pid 999999, not running), tuner pid 999998 (not running)" "status shows a router that is gone as not running"
if grep -q "(null)" "$tmp/out"; then bad "status reads only tuner state"; sed 's/^/  | /' "$tmp/out"; else ok "status reads only tuner state"; fi
expect_rc 0 "status --json" "$VIRT_ROUTER" status --state-dir "$tmp/state" --json --interval 10
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d)==1 and d[0]["domain"]=="vrx" and d[0]["threads"][0]["alive"] is False' "$tmp/out"; then ok "status --json"; else bad "status --json"; sed 's/^/  | /' "$tmp/out"; fi
expect_rc 1 "status of an unknown domain" "$VIRT_ROUTER" status nope --state-dir "$tmp/state"
contains "$tmp/err" "domain 'nope': no tuner state" "status names the unknown domain"

# render
expect_rc 0 "render kvm-macvtap" "$VIRT_ROUTER" render kvm-macvtap -c "$data/render/host.conf" -n vr1 --type qemu --memory 128 --no-image --port wan=h0 --port lan=h1
if cmp -s "$tmp/out" "$data/render/kvm-macvtap-qemu.expected.xml"; then ok "render CLI matches the library case"; else bad "render CLI matches the library case"; diff "$data/render/kvm-macvtap-qemu.expected.xml" "$tmp/out" | head; fi
contains "$tmp/out" "<uuid>4b0c2df0-1bd5-5deb-ad79-515327b3ce74</uuid>" "render derives the UUID from the name (version 5)"
expect_rc 0 "render --uuid" "$VIRT_ROUTER" render kvm-macvtap -n vr1 --no-image --uuid 0F0E5C1C-3A53-4D0C-9A34-6A2B0B0F1A01
contains "$tmp/out" "<uuid>0f0e5c1c-3a53-4d0c-9a34-6a2b0b0f1a01</uuid>" "render --uuid sets it (lower case, as libvirt writes it)"
expect_rc 2 "render --uuid that is no UUID" "$VIRT_ROUTER" render kvm-macvtap --uuid 1234
contains "$tmp/err" "--uuid '1234': expected a UUID" "a bad --uuid is named"
expect_rc 2 "render without template" "$VIRT_ROUTER" render
expect_rc 2 "render unknown template" "$VIRT_ROUTER" render kvm-tap
expect_rc 2 "render --vcpus -1" "$VIRT_ROUTER" render kvm-macvtap --vcpus -1
expect_rc 1 "render with a bad port attribute" "$VIRT_ROUTER" render kvm-macvtap --port wan=h0,vlan=7
expect_rc 3 "render with a missing template dir" "$VIRT_ROUTER" render kvm-macvtap --template-dir "$tmp/none"

# The tuner requires a spec and says how to make one (it no longer runs `virt-router spec`).
VIRT_ROUTER_TUNE=${VIRT_ROUTER_TUNE:-$(dirname "$VIRT_ROUTER")/virt-router-tune}
expect_rc 2 "virt-router-tune without --spec" "$VIRT_ROUTER_TUNE" --domain vr1 --config "$data/xml/host.conf"
contains "$tmp/err" "domain 'vr1': --spec FILE is required" "the tuner says it needs a spec"
contains "$tmp/err" "virt-router spec --domain vr1 > FILE" "the tuner says how to make one"
"$VIRT_ROUTER" spec --xml "$data/xml/deadline-sched.expected.xml" --pid 1 -c "$data/xml/host.conf" >"$tmp/vr1.spec.json" 2>"$tmp/err"
expect_rc 1 "virt-router-tune with another domain's spec" "$VIRT_ROUTER_TUNE" --domain other --once --spec "$tmp/vr1.spec.json" --config "$data/xml/host.conf"
contains "$tmp/err" "domain 'other': the tuning spec describes domain 'vr1'" "the tuner reads the spec virt-router spec wrote"
# A spec that does not read: the one line names the file and the domain.
head -c 40 "$tmp/vr1.spec.json" >"$tmp/cut.spec.json"
expect_rc 1 "virt-router-tune with a truncated spec" "$VIRT_ROUTER_TUNE" --domain vr1 --once --spec "$tmp/cut.spec.json" --config "$data/xml/host.conf"
contains "$tmp/err" "virt-router-tune: $tmp/cut.spec.json: domain 'vr1': tuning spec: JSON at offset " "a truncated spec's error names the file and the domain"
sed 's/"pid"/"pdi"/' "$tmp/vr1.spec.json" >"$tmp/key.spec.json"
expect_rc 1 "virt-router-tune with a spec of an unknown key" "$VIRT_ROUTER_TUNE" --domain vr1 --once --spec "$tmp/key.spec.json" --config "$data/xml/host.conf"
contains "$tmp/err" "virt-router-tune: $tmp/key.spec.json: domain 'vr1': tuning spec: pdi: unknown key" "a spec the tuner refuses names the file and the domain"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && ok "the spec's error is one line" || bad "the spec's error is one line"

# bench, with a stand-in for virt-router-traffic (no namespaces, no root): `recv` says it
# is ready and reports what it received at once; `send` reports FAKE_SENT_PCT percent of
# its --rate as sent.
cat >"$tmp/fake-traffic" <<'SH'
#!/bin/sh
cmd=$1 rate=0
shift
while [ $# -gt 0 ]; do
        [ "$1" = --rate ] && rate=$2
        shift
done
case $cmd in
recv) echo ready >&2
      echo '{"received": 100, "latency_ms": {"p50": 1.5, "p90": 2, "p99": 3.25}}' ;;
send) echo "{\"rate_pps\": $((rate * ${FAKE_SENT_PCT:-100} / 100))}" ;;
esac
SH
chmod +x "$tmp/fake-traffic"
printf '[bench]\nrepeat=2\nduration=100ms\n[router r1]\nsource-netns=s\nsink-netns=k\ndst=198.19.1.2\nload=0 1000 50000\n' >"$tmp/steps.conf"
export VIRT_ROUTER_TRAFFIC="$tmp/fake-traffic"
mkdir -p "$tmp/bench"
expect_rc 0 "bench --no-plot" "$VIRT_ROUTER" bench --no-plot -o "$tmp/bench" "$tmp/steps.conf"
if [ -f "$tmp/bench/steps-summary.csv" ] && [ -f "$tmp/bench/steps-samples.csv" ]; then ok "bench writes its CSV files"; else bad "bench writes its CSV files"; fi
if [ ! -e "$tmp/bench/steps.gp" ] && [ ! -e "$tmp/bench/steps.png" ]; then ok "bench --no-plot writes neither .gp nor .png"; else bad "bench --no-plot writes neither .gp nor .png"; ls "$tmp/bench" | sed 's/^/  | /'; fi
contains "$tmp/out" "plot:    (not drawn)" "bench --no-plot says the plot was not drawn"
expect_rc 0 "bench with a plot (or a note that gnuplot is missing)" "$VIRT_ROUTER" bench -n plotted -o "$tmp/bench" "$tmp/steps.conf"
if [ -s "$tmp/bench/plotted.gp" ]; then ok "bench without --no-plot writes the .gp"; else bad "bench without --no-plot writes the .gp"; fi
# Sent under 98% of offered makes a step invalid (0 pps never is): said on stderr and in
# the table, valid=0 in the summary's last column; --strict makes it exit status 5.
if ! grep -q "INVALID\|invalid" "$tmp/out" "$tmp/err"; then ok "a bench whose steps are all valid warns of nothing"; else bad "a bench whose steps are all valid warns of nothing"; sed 's/^/  | /' "$tmp/err"; fi
FAKE_SENT_PCT=98 expect_rc 0 "bench --strict with exactly 98% sent" "$VIRT_ROUTER" bench --strict --no-plot -o "$tmp/bench" "$tmp/steps.conf"
if awk -F, 'NR > 1 && $20 != 1 { bad = 1 } END { exit bad }' "$tmp/bench/steps-summary.csv"; then ok "exactly 98% sent is valid"; else bad "exactly 98% sent is valid"; sed 's/^/  | /' "$tmp/bench/steps-summary.csv"; fi
FAKE_SENT_PCT=50 expect_rc 0 "bench with steps that sent too little exits 0 without --strict" "$VIRT_ROUTER" bench --no-plot -o "$tmp/bench" "$tmp/steps.conf"
contains "$tmp/err" "virt-router bench: step 2, router r1, 1000 pps offered: INVALID: sent 50% of offered, 2 of 2 runs under 98%: the generator could not send that fast" "each invalid step is named on stderr"
contains "$tmp/err" "virt-router bench: 2 of 3 points invalid (sent under 98% of offered)" "the invalid steps are counted on stderr"
contains "$tmp/out" "INVALID: sent 50% of offered" "the table marks an invalid step"
if grep -q "step 1, router r1" "$tmp/err"; then bad "a step of 0 pps is valid"; else ok "a step of 0 pps is valid"; fi
if [ "$(head -1 "$tmp/bench/steps-summary.csv" | cut -d, -f17-)" = "sent_fraction,sent_fraction_min,short_runs,valid" ] &&
        [ "$(cut -d, -f1,20 "$tmp/bench/steps-summary.csv" | tr '\n' ' ')" = "step,valid 1,1 2,0 3,0 " ]; then
        ok "the summary CSV ends in the validity columns"
else
        bad "the summary CSV ends in the validity columns"; sed 's/^/  | /' "$tmp/bench/steps-summary.csv"
fi
FAKE_SENT_PCT=50 expect_rc 5 "bench --strict with an invalid step exits 5" "$VIRT_ROUTER" bench --strict --no-plot -o "$tmp/bench" "$tmp/steps.conf"
contains "$tmp/err" "exit status 5 (--strict)" "bench --strict says why it fails"
FAKE_SENT_PCT=50 expect_rc 0 "bench --json with an invalid step" "$VIRT_ROUTER" bench --json --no-plot -o "$tmp/bench" "$tmp/steps.conf"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["points"]; assert d["valid"] is False and d["invalid_points"]==2 and [x["valid"] for x in p]==[True,False,False] and p[1]["short_runs"]==2 and p[1]["sent_fraction"]==0.5 and p[0]["ratio"] is None and d["plot"] is None' "$tmp/out"; then
        ok "bench --json carries validity"
else
        bad "bench --json carries validity"; sed 's/^/  | /' "$tmp/out"
fi
unset VIRT_ROUTER_TRAFFIC

# The real virt-router-traffic recv on loopback (no root): the empty datagram that
# resolves the peer's MAC is not counted (the lab's pktgen run counted 40001 of 40000).
TRAFFIC=$(dirname "$VIRT_ROUTER")/virt-router-traffic
if [ -x "$TRAFFIC" ] && command -v python3 >/dev/null; then
        port=$((20000 + $$ % 20000))
        "$TRAFFIC" recv --addr 127.0.0.1 --port "$port" --duration 1500ms > "$tmp/recv.json" 2> "$tmp/recv.err" &
        rpid=$!
        n=0
        while ! grep -q ready "$tmp/recv.err" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
        python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); a=("127.0.0.1",int(sys.argv[1])); s.sendto(b"",a); [s.sendto(bytes(18),a) for _ in range(3)]' "$port"
        wait "$rpid"
        if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["received"]==3 and d["untimed"]==3, d' "$tmp/recv.json"; then
                ok "recv counts 3 datagrams, not the empty one"
        else
                bad "recv counts 3 datagrams, not the empty one"; sed 's/^/  | /' "$tmp/recv.json" "$tmp/recv.err"
        fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

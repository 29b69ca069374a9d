# shellcheck shell=bash
# find_mirror: print the mirror apt uses on this machine for $SUITE (deb822 .sources
# first, then one-line lists). Sourced by guest/build-image.sh and the benchmarks, so
# every image comes from the same archive the host uses.
find_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		# stanzas are separated by blank lines; take URIs of one whose Suites has SUITE
		awk -v suite="$SUITE" '
			/^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
			END { if (uri != "" && ok) print uri }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		# deb [options] URI SUITE COMPONENTS...
		sed 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
	done
}

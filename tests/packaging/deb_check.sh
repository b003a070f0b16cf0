#!/usr/bin/env bash
# deb_check.sh DEB: the package built by tools/package.sh installs and runs.
#  - it holds the binaries, the unit, the man pages and the example where Debian 12 expects them;
#  - its dependencies resolve on this Debian (apt-get --simulate, nothing is installed);
#  - its maintainer scripts parse;
#  - unpacked into an empty root (dpkg -x), `ringprobe version` runs from it and the unit
#    verifies there.
# dpkg -x, not dpkg --root or debootstrap: an empty root has no shell or adduser for the
# postinst and no libraries for the binaries, and debootstrap downloads a whole Debian (minutes
# and a network mirror per run). The unpacked binaries run against this host's libraries, which
# are the Debian 12 packages the .deb's Depends name.
set -euo pipefail
deb=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "deb_check: $*" >&2
    exit 1
}

dpkg-deb --contents "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$tmp/contents"
for f in /usr/bin/ringprobe /usr/bin/ringprobe-report /usr/bin/ringprobe-fleet \
    /lib/systemd/system/ringprobe@.service /usr/share/man/man8/ringprobe.8.gz \
    /usr/share/man/man1/ringprobe-report.1.gz /usr/share/man/man1/ringprobe-fleet.1.gz \
    /usr/share/doc/ringprobe/examples/gateway.json /etc/ringprobe/; do
    grep -qxF "$f" "$tmp/contents" || fail "$f is not in the package"
done

if ! apt-get install --simulate -q "$deb" >"$tmp/apt.log" 2>&1; then
    cat "$tmp/apt.log" >&2
    fail "dependencies do not resolve"
fi

mkdir "$tmp/control"
dpkg-deb --control "$deb" "$tmp/control"
for script in "$tmp"/control/{preinst,postinst,prerm,postrm}; do
    [ -f "$script" ] && { sh -n "$script" || fail "$(basename "$script") does not parse"; }
done
grep -q 'adduser --system --group' "$tmp/control/postinst" ||
    fail "postinst creates no ringprobe user"

root="$tmp/root"
mkdir "$root"
dpkg -x "$deb" "$root"
want="ringprobe $(dpkg-deb --field "$deb" Version)"
got=$("$root/usr/bin/ringprobe" version) || fail "ringprobe version failed"
[ "$got" = "$want" ] || fail "ringprobe version printed '$got', not '$want'"
example="$root/usr/share/doc/ringprobe/examples/gateway.json"
"$root/usr/bin/ringprobe" plan --check --config "$example" >/dev/null ||
    fail "the example configuration does not plan"

if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir "$tmp/units"
    unit="$tmp/units/ringprobe@.service"
    sed "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" \
        "$root/lib/systemd/system/ringprobe@.service" >"$unit"
    out=$(MANPATH="$root/usr/share/man" systemd-analyze verify "$unit" 2>&1) ||
        { echo "$out" >&2; fail "systemd-analyze verify failed"; }
    [ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze verify complained"; }
fi
echo "deb_check: $(basename "$deb") ok ($want)"

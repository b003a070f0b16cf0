#!/usr/bin/env bash
# What `meson install` puts beside the binaries works where it lands:
#   installed_check.sh unit BUILD_DIR   systemd-analyze verify passes on ringprobe@.service
#   installed_check.sh man BUILD_DIR    every man page is in its section and renders without
#                                       a warning
# The build is installed into a temporary DESTDIR. systemd-analyze checks that ExecStart names
# an executable file, so the checked copy of the unit points ExecStart into that DESTDIR: the
# binary it finds is the one meson installed (ExecReload too). Exit 77 (SKIP) when the checking tool is missing.
set -euo pipefail
mode=$1
build=$2

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 not installed" >&2; exit 77; }
}
case "$mode" in
unit) need systemd-analyze ;;
man) need man ;;
*) echo "usage: $0 unit|man BUILD_DIR" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/root"
meson install --no-rebuild --quiet --destdir "$dest" -C "$build" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; exit 1; }

unit=$(find "$dest" -path '*/systemd/system/ringprobe@.service')
[ -n "$unit" ] || { echo "ringprobe@.service was not installed" >&2; exit 1; }
# The prefix is where the unit was installed: DESTDIR/PREFIX/lib/systemd/system.
prefix=${unit#"$dest"}
prefix=${prefix%/lib/systemd/system/ringprobe@.service}
man_dir="$dest$prefix/share/man"

check_unit() {
    local exec
    exec=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
    [ -x "$dest$exec" ] || { echo "ExecStart=$exec is not in the installed tree" >&2; exit 1; }
    mkdir -p "$tmp/units"
    # ExecReload runs the same binary (ringprobe reload): it is pointed there too.
    sed "s|^\(Exec[A-Za-z]*=\)$exec|\1$dest$exec|" "$unit" >"$tmp/units/ringprobe@.service"
    # Documentation=man:ringprobe(8) is checked against the installed man pages. verify exits 0
    # on a line it ignores ("Failed to parse ..., ignoring"), so any output fails the check.
    local out
    if ! out=$(MANPATH="$man_dir" systemd-analyze verify "$tmp/units/ringprobe@.service" 2>&1) ||
        [ -n "$out" ]; then
        printf '%s\n' "$out" >&2
        exit 1
    fi
}

check_man() {
    local page out status=0
    for page in man8/ringprobe.8 man1/ringprobe-report.1 man1/ringprobe-fleet.1; do
        [ -f "$man_dir/$page" ] || { echo "$page was not installed" >&2; status=1; continue; }
    done
    for page in "$man_dir"/man*/*; do
        out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        if [ -n "$out" ]; then
            printf '%s:\n%s\n' "$page" "$out" >&2
            status=1
        fi
    done
    return $status
}

"check_$mode"

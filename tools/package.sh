#!/usr/bin/env bash
# tools/package.sh: build the Debian package (debhelper + meson, debian/) and check it with
# lintian. The source is copied to build/package/src first, because dpkg-buildpackage writes
# its results beside the source tree and cleans inside it; the copy keeps one fixed path so
# that ccache serves a rebuild. Prints the .deb's path on stdout; lintian's findings (there
# should be none) and every log go to stderr only on failure.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$RP_TOP"

rp_ensure_packages "${RP_BUILD_PACKAGES[@]}" "${RP_PACKAGE_PACKAGES[@]}"

out="$RP_TOP/build/package"
src="$out/src"
mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo

# The files git tracks or would track (what a release holds), as they are in the work tree; a
# tree that is not a git checkout is copied whole, without its build directories.
rm -rf "$src"
mkdir -p "$src"
if git -C "$RP_TOP" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$RP_TOP" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
        tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude='./build*' -cf - . | tar -xf - -C "$src"
fi

# debhelper gives the build a HOME of its own inside debian/, which it cleans: ccache would
# start from an empty cache in it every time unless told where the user's cache is.
if command -v ccache >/dev/null 2>&1; then
    CCACHE_DIR=$(ccache --get-config cache_dir)
    export CCACHE_DIR
fi
jobs=$(nproc)
(cd "$src" && export DEB_BUILD_OPTIONS="parallel=$jobs" &&
    rp_quiet package-build nice dpkg-buildpackage -us -uc -b)
deb=$(ls "$out"/ringprobe_*.deb)
rp_quiet package-lintian lintian --fail-on error,warning "$deb"
echo "$deb"

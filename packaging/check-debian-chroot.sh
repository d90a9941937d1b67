#!/usr/bin/env bash
# Check the Linux bundle on a clean Debian: debootstrap a minimal bookworm into a folder, add only the system
# libraries the bundle documents as needed, and run the frozen app's self-test (offscreen, and on X11 via Xvfb)
# and the frozen CLI inside a chroot. Needs root, debootstrap and a Debian mirror (so: not part of CI).
#
#   sudo packaging/check-debian-chroot.sh [ROOT_DIR] [BUNDLE_DIR]     (defaults: /tmp/osteo-debian, dist/osteo-desktop)
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/tmp/osteo-debian}
bundle=${2:-dist/osteo-desktop}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "needs root (chroot, debootstrap)" >&2; exit 1; }
[ -x "$bundle/osteo-desktop" ] || { echo "no bundle at $bundle" >&2; exit 1; }
if [ ! -x "$root/bin/sh" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  debootstrap --variant=minbase bookworm "$root" "$mirror"
fi
in_root() { chroot "$root" /usr/bin/env -i HOME=/tmp PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
rm -rf "$root/opt/osteo-desktop" && cp -a "$bundle" "$root/opt/osteo-desktop"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT

echo "== bare minbase (no X, no GL): the command line"
in_root /opt/osteo-desktop/osteo --version
in_root /opt/osteo-desktop/osteo predict --json /opt/osteo-desktop/_internal/resources/samples/knee_sample.png

echo "== + libgl1 libegl1 libxcb1 fontconfig fonts-dejavu-core: the desktop app, offscreen"
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libgl1 libegl1 libxcb1 fontconfig fonts-dejavu-core >/dev/null'
in_root env QT_QPA_PLATFORM=offscreen PATH=/nonexistent /opt/osteo-desktop/osteo-desktop --self-test

echo "== + xvfb: the desktop app on X11 (xcb)"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb >/dev/null'
in_root sh -c 'Xvfb :7 -screen 0 1280x1024x24 >/dev/null 2>&1 & xvfb=$!; sleep 2;
  DISPLAY=:7 QT_QPA_PLATFORM=xcb PATH=/nonexistent /opt/osteo-desktop/osteo-desktop --self-test; rc=$?; kill $xvfb; exit $rc'
echo "check-debian-chroot: PASS"

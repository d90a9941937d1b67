#!/bin/sh
# Install osteo-desktop from this unpacked archive. No network, no Python, no root needed.
#
#   ./install.sh                  per user: ~/.local/opt/osteo-desktop, commands in ~/.local/bin
#   sudo ./install.sh --system    for everyone: /opt/osteo-desktop, commands in /usr/local/bin (as root --system
#                                 or --user must be given; --user installs into root's own home)
#   ./install.sh --prefix DIR     into DIR/osteo-desktop (commands in DIR/bin; desktop entry per user, or for all as root)
#   ./install.sh --uninstall [--system|--prefix DIR]   remove it again (or run the app folder's uninstall.sh)
#
# It copies the app folder, links the `osteo-desktop` and `osteo` commands, and adds a desktop entry and an icon.
# It only ever replaces or removes its own previous install (recognised by its marker file), never anything else.
set -eu

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
mode= prefix= action=install
while [ $# -gt 0 ]; do
  case "$1" in
    --system) mode=system ;;
    --user) mode=user ;;
    --prefix) prefix=${2:?--prefix needs a folder}; shift ;;
    --prefix=*) prefix=${1#--prefix=} ;;
    --uninstall) action=uninstall ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$mode" ]; then
  if [ "$(id -u)" = 0 ]; then
    # As root the natural default would change the machine for every user; that must be asked for, not implied.
    # The command that does what was asked, with the --prefix that was given (without it, --system means /opt).
    again="sudo ./install.sh"; [ "$action" = uninstall ] && again="$again --uninstall"
    again="$again --system${prefix:+ --prefix $prefix}"
    echo "install.sh: run as root, this would install osteo-desktop for every user of this machine" >&2
    echo "  (into ${prefix:-/opt}/osteo-desktop, commands in ${prefix:-/usr/local}/bin, a menu entry for everyone)." >&2
    echo "  For every user, say so: $again" >&2
    echo "  Just for yourself, run it without sudo: ./install.sh" >&2
    exit 2
  fi
  mode=user
fi

# A prefix is a shared folder (/opt, /usr/local, a clinic share): the app goes into its own subfolder of it. Installing
# into the prefix itself used to move the whole prefix aside and delete it, with everything other programs kept there.
prefix=${prefix%/}
if [ "$mode" = system ]; then
  app_dir=${prefix:-/opt}/osteo-desktop; bin_dir=${prefix:+$prefix/bin}; bin_dir=${bin_dir:-/usr/local/bin}
  data_home=/usr/share
else
  app_dir=${prefix:-$HOME/.local/opt}/osteo-desktop; bin_dir=${prefix:+$prefix/bin}; bin_dir=${bin_dir:-$HOME/.local/bin}
  data_home=${XDG_DATA_HOME:-$HOME/.local/share}
fi
desktop_file=$data_home/applications/osteo-desktop.desktop
icon_png=$data_home/icons/hicolor/256x256/apps/osteo-desktop.png
icon_svg=$data_home/icons/hicolor/scalable/apps/osteo-desktop.svg

# Written into every install; its presence is what lets a later install or uninstall replace or remove the folder.
marker=.osteo-desktop-install

is_our_install() {  # DIR: a folder this script installed (marker), or one from before the marker (0.2.0 and older)
  [ -f "$1/$marker" ] && return 0
  # Those older installs are recognised by the uninstall.sh this script wrote next to the two commands.
  [ -x "$1/osteo-desktop" ] && [ -x "$1/osteo" ] && [ -d "$1/_internal" ] && [ -f "$1/uninstall.sh" ] &&
    grep -q '^# Remove osteo-desktop as installed by install.sh' "$1/uninstall.sh" 2>/dev/null
}

link_is_ours() {  # LINK NAME: absent, dangling, or a link to NAME inside an install of this app (so ours to replace)
  [ -e "$1" ] || [ -L "$1" ] || return 0
  [ -L "$1" ] || return 1
  [ -e "$1" ] || return 0
  target=$(readlink "$1")
  [ "$(basename "$target")" = "$2" ] && is_our_install "$(dirname "$target")"
}

refresh_caches() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data_home/applications" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" 2>/dev/null || true
}

if [ "$action" = uninstall ]; then
  if [ -x "$app_dir/uninstall.sh" ] && is_our_install "$app_dir"; then exec "$app_dir/uninstall.sh"; fi
  echo "install.sh: no installation found in $app_dir" >&2; exit 1
fi

src=$here/osteo-desktop
if [ ! -x "$src/osteo-desktop" ] || [ ! -x "$src/osteo" ]; then
  echo "install.sh: $src does not hold the app (osteo-desktop and osteo); unpack the whole archive first" >&2
  exit 1
fi

# Refuse, before changing anything, to replace what belongs to someone else.
if [ -e "$app_dir" ] || [ -L "$app_dir" ]; then
  if [ -L "$app_dir" ] || [ ! -d "$app_dir" ] || ! is_our_install "$app_dir"; then
    echo "install.sh: $app_dir exists and is not an installation of osteo-desktop; not touching it." >&2
    echo "  Move it away, or choose another folder with --prefix DIR (the app then goes into DIR/osteo-desktop)." >&2
    exit 1
  fi
fi
for name in osteo-desktop osteo; do
  if ! link_is_ours "$bin_dir/$name" "$name"; then
    echo "install.sh: $bin_dir/$name exists and is not a link to osteo-desktop; not replacing it." >&2
    echo "  Move it away, or choose another folder with --prefix DIR (commands then go into DIR/bin)." >&2
    exit 1
  fi
done

# Copy into a fresh staging folder next to the target and swap, so an interrupted install never leaves a half-copied
# app in place; the staging folder is this run's own (mktemp), so cleaning it up can remove nothing else.
parent=$(dirname "$app_dir")
mkdir -p "$parent" "$bin_dir" "$data_home/applications" "$(dirname "$icon_png")" "$(dirname "$icon_svg")"
stage=$(mktemp -d "$parent/.osteo-desktop-install.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -R "$src" "$stage/app"
cat > "$stage/app/uninstall.sh" <<UNINSTALL
#!/bin/sh
# Remove osteo-desktop as installed by install.sh (the per-user history in ~/.local/share/osteo-desktop stays).
set -eu
if [ ! -f "$app_dir/$marker" ]; then
  echo "uninstall.sh: $app_dir is not an osteo-desktop installation (no $marker); not removing it" >&2; exit 1
fi
rm -f "$desktop_file" "$icon_png" "$icon_svg"
for link in "$bin_dir/osteo-desktop" "$bin_dir/osteo"; do
  if [ -L "\$link" ] && [ "\$(readlink "\$link")" = "$app_dir/\$(basename "\$link")" ]; then rm -f "\$link"; fi
done
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data_home/applications" 2>/dev/null || true
rm -rf "$app_dir"
echo "osteo-desktop removed from $app_dir"
UNINSTALL
chmod 755 "$stage/app/uninstall.sh"
echo "osteo-desktop installed by install.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); install.sh and uninstall.sh replace or remove this folder only while this file is here" > "$stage/app/$marker"
if [ -d "$app_dir" ]; then mv "$app_dir" "$stage/old"; fi  # our previous install (checked above)
if ! mv "$stage/app" "$app_dir"; then
  [ -d "$stage/old" ] && mv "$stage/old" "$app_dir"
  echo "install.sh: could not move the new app into $app_dir" >&2; exit 1
fi
rm -rf "$stage"
trap - EXIT

ln -sf "$app_dir/osteo-desktop" "$bin_dir/osteo-desktop"
ln -sf "$app_dir/osteo" "$bin_dir/osteo"
icons=$app_dir/_internal/resources/icons
[ -f "$icons/osteo-desktop.png" ] && cp "$icons/osteo-desktop.png" "$icon_png"
[ -f "$icons/osteo-desktop.svg" ] && cp "$icons/osteo-desktop.svg" "$icon_svg"
sed "s|@BINDIR@|$app_dir|g" "$here/osteo-desktop.desktop.in" > "$desktop_file"
chmod 644 "$desktop_file"
refresh_caches

echo "osteo-desktop installed in $app_dir"
echo "  start it from the applications menu, or run: $bin_dir/osteo-desktop"
echo "  command line: $bin_dir/osteo predict FILE   (osteo --help)"
echo "  check it:     $bin_dir/osteo-desktop --self-test"
echo "  remove it:    $app_dir/uninstall.sh"
case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "  note: $bin_dir is not on your PATH" ;; esac

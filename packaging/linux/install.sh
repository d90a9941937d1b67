#!/bin/sh
# Install osteo-desktop from this unpacked archive. No network, no Python, no root needed.
#
#   ./install.sh                  per user: ~/.local/opt/osteo-desktop, commands in ~/.local/bin
#   sudo ./install.sh --system    for everyone: /opt/osteo-desktop, commands in /usr/local/bin (as root --system
#                                 or --user must be given; --user installs into root's own home)
#   ./install.sh --prefix DIR     into DIR (commands in DIR/bin; desktop entry per user, or system-wide as root)
#   ./install.sh --uninstall [--system|--prefix DIR]   remove it again (or run DIR/uninstall.sh)
#
# It copies the app folder, links the `osteo-desktop` and `osteo` commands, and adds a desktop entry and an icon.
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
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$mode" ]; then
  if [ "$(id -u)" = 0 ]; then
    # As root the natural default would change the machine for every user; that must be asked for, not implied.
    if [ "$action" = uninstall ]; then again="sudo ./install.sh --uninstall --system"; else again="sudo ./install.sh --system"; fi
    echo "install.sh: run as root, this would install osteo-desktop for every user of this machine" >&2
    echo "  (into ${prefix:-/opt/osteo-desktop}, commands in ${prefix:+the folder's bin/}${prefix:-/usr/local/bin}, a menu entry for everyone)." >&2
    echo "  For every user, say so: $again" >&2
    echo "  Just for yourself, run it without sudo: ./install.sh" >&2
    exit 2
  fi
  mode=user
fi

if [ "$mode" = system ]; then
  app_dir=${prefix:-/opt/osteo-desktop}; bin_dir=${prefix:+$prefix/bin}; bin_dir=${bin_dir:-/usr/local/bin}
  data_home=/usr/share
else
  app_dir=${prefix:-$HOME/.local/opt/osteo-desktop}; bin_dir=${prefix:+$prefix/bin}; bin_dir=${bin_dir:-$HOME/.local/bin}
  data_home=${XDG_DATA_HOME:-$HOME/.local/share}
fi
desktop_file=$data_home/applications/osteo-desktop.desktop
icon_png=$data_home/icons/hicolor/256x256/apps/osteo-desktop.png
icon_svg=$data_home/icons/hicolor/scalable/apps/osteo-desktop.svg

refresh_caches() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data_home/applications" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" 2>/dev/null || true
}

if [ "$action" = uninstall ]; then
  if [ -x "$app_dir/uninstall.sh" ]; then exec "$app_dir/uninstall.sh"; fi
  echo "install.sh: no installation found in $app_dir" >&2; exit 1
fi

src=$here/osteo-desktop
if [ ! -x "$src/osteo-desktop" ] || [ ! -x "$src/osteo" ]; then
  echo "install.sh: $src does not hold the app (osteo-desktop and osteo); unpack the whole archive first" >&2
  exit 1
fi

# Copy next to the target and swap, so an interrupted install never leaves a half-copied app in place.
mkdir -p "$(dirname "$app_dir")" "$bin_dir" "$data_home/applications" "$(dirname "$icon_png")" "$(dirname "$icon_svg")"
rm -rf "$app_dir.new"
cp -R "$src" "$app_dir.new"
if [ -e "$app_dir" ]; then rm -rf "$app_dir.old" && mv "$app_dir" "$app_dir.old"; fi
mv "$app_dir.new" "$app_dir"
rm -rf "$app_dir.old"

ln -sf "$app_dir/osteo-desktop" "$bin_dir/osteo-desktop"
ln -sf "$app_dir/osteo" "$bin_dir/osteo"
icons=$app_dir/_internal/resources/icons
[ -f "$icons/osteo-desktop.png" ] && cp "$icons/osteo-desktop.png" "$icon_png"
[ -f "$icons/osteo-desktop.svg" ] && cp "$icons/osteo-desktop.svg" "$icon_svg"
sed "s|@BINDIR@|$app_dir|g" "$here/osteo-desktop.desktop.in" > "$desktop_file"
chmod 644 "$desktop_file"

cat > "$app_dir/uninstall.sh" <<UNINSTALL
#!/bin/sh
# Remove osteo-desktop as installed by install.sh (the per-user history in ~/.local/share/osteo-desktop stays).
set -eu
rm -f "$desktop_file" "$icon_png" "$icon_svg"
for link in "$bin_dir/osteo-desktop" "$bin_dir/osteo"; do
  if [ -L "\$link" ] && [ "\$(readlink "\$link")" = "$app_dir/\$(basename "\$link")" ]; then rm -f "\$link"; fi
done
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data_home/applications" 2>/dev/null || true
rm -rf "$app_dir"
echo "osteo-desktop removed from $app_dir"
UNINSTALL
chmod 755 "$app_dir/uninstall.sh"
refresh_caches

echo "osteo-desktop installed in $app_dir"
echo "  start it from the applications menu, or run: $bin_dir/osteo-desktop"
echo "  command line: $bin_dir/osteo predict FILE   (osteo --help)"
echo "  check it:     $bin_dir/osteo-desktop --self-test"
echo "  remove it:    $app_dir/uninstall.sh"
case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "  note: $bin_dir is not on your PATH" ;; esac

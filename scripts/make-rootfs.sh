#!/usr/bin/env bash
# Builds a tiny busybox root filesystem in DIR (default: build/rootfs) from
# Debian's busybox-static: the test image for every backend, made locally
# because there is no image registry to pull from.
set -euo pipefail
dir=${1:-build/rootfs}
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! file -L "$busybox" | grep -q 'statically linked'; then
  echo "make-rootfs: a static busybox is needed (apt-get install busybox-static)" >&2
  exit 1
fi
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"/{bin,sbin,etc,tmp,root,home/alice,home/bob,proc,sys,dev,run,var/tmp,usr/bin}
chmod 1777 "$dir.tmp/tmp" "$dir.tmp/var/tmp"
chmod 700 "$dir.tmp/root"
cp "$busybox" "$dir.tmp/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir.tmp/bin/$applet"
done
cat > "$dir.tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001:Bob:/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$dir.tmp/etc/group" <<'GROUP'
root:x:0:
alice:x:1000:
bob:x:1001:
staff:x:50:alice
audio:x:29:alice,bob
nogroup:x:65534:
GROUP
echo 'hosts: files' > "$dir.tmp/etc/nsswitch.conf"
echo '127.0.0.1 localhost' > "$dir.tmp/etc/hosts"
chown -R 1000:1000 "$dir.tmp/home/alice"
chown -R 1001:1001 "$dir.tmp/home/bob"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$dir"

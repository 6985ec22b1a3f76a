#!/usr/bin/env bash
# Host set-up for the demo and the test suite (Debian 12, run as root).
# Idempotent: every step checks before it acts, so a second run takes seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
. "$here/env.sh"

[ "$(id -u)" = 0 ] || { echo "setup-host.sh must run as root (try: sudo bash $0)" >&2; exit 1; }

# 1. Packages. Engines, rootless networking, the firewall tools, image building
#    and the test hosts' binaries (busybox httpd, dnsmasq).
pkgs=(podman uidmap slirp4netns passt fuse-overlayfs crun runc iptables ipset
      docker.io debootstrap busybox-static dnsmasq-base ca-certificates dnsutils unzip catatonit)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The rootless podman user. useradd allocates its subuid/subgid ranges.
if ! id "$HDC_TEST_USER" >/dev/null 2>&1; then
  echo "==> creating rootless user $HDC_TEST_USER (uid $HDC_TEST_UID)"
  useradd -m -u "$HDC_TEST_UID" -s /bin/bash "$HDC_TEST_USER"
fi
for f in /etc/subuid /etc/subgid; do
  grep -q "^$HDC_TEST_USER:" "$f" || echo "$HDC_TEST_USER:$((100000 + HDC_TEST_UID * 65536)):65536" >> "$f"
done
home=$(getent passwd "$HDC_TEST_USER" | cut -d: -f6)
run=/run/user/$HDC_TEST_UID
install -d -m 700 -o "$HDC_TEST_USER" -g "$HDC_TEST_USER" "$run"
install -d -o "$HDC_TEST_USER" -g "$HDC_TEST_USER" "$home/.config" "$home/.config/containers"
# cgroup v1 hybrid host: crun refuses it, runc works.
cat > "$home/.config/containers/containers.conf" <<CONF
[engine]
runtime = "runc"
events_logger = "file"
# podman truncates events.log at 1 MB by default, which can make an events follower (the
# devcontainers CLI's wait for its start event) miss the event; rotate rarely.
events_logfile_max_size = 67108864
CONF
# Native overlay is ~10x faster than the vfs default on this kernel.
cat > "$home/.config/containers/storage.conf" <<CONF
[storage]
driver = "overlay"
CONF
chown "$HDC_TEST_USER:" "$home/.config/containers/"*.conf

# 3. slirp4netns and podman networks need /dev/net/tun; 0666 is the desktop default.
chmod 666 /dev/net/tun

# 4. Node dependencies and the bundle.
cd "$repo"
if [ ! -d node_modules/@devcontainers/cli ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund >/dev/null
fi
npm run -s build

# 5. The images, built offline from the apt mirror, imported for the test user: the base
#    image (test workspaces and hosts) and the Podman sidecar's image.
bash "$here/base-image.sh" podman base
bash "$here/base-image.sh" podman podman

# 6. The editor test bed: code-server 4.100.3 (the real VS Code server and workbench) and
#    Debian's Chromium for Playwright, cached under $HDC_CACHE/tools.
bash "$here/code-server.sh" >/dev/null
echo "==> host ready (rootless user: $HDC_TEST_USER)"

#!/usr/bin/env bash
# Builds our images without a registry: debootstrap from the machine's own apt mirror,
# then `import` into an engine.
#   base   localhost/hardened-devcontainers/base:bookworm    the test workspaces and hosts
#   podman localhost/hardened-devcontainers/podman:bookworm  the Podman sidecar (and a
#          workspace image that has the podman client and docker-compose)
# Usage: base-image.sh podman|docker [base|podman]  (run as root; podman imports as the test user)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
engine=${1:?usage: base-image.sh podman|docker [base|podman]}
flavor=${2:-base}

# nftables and iputils-ping make the tamper and ICMP tests real; busybox-static (httpd)
# and dnsmasq-base let the same image serve as the egress fixture's test hosts.
pkgs=sudo,iptables,ipset,dnsutils,curl,ca-certificates,iproute2,procps,nftables,iputils-ping,busybox-static,dnsmasq-base
image=$HDC_BASE_IMAGE
case "$flavor" in
  base) ;;
  # podman inside a rootless container: the engine, crun (runc does not work there), and
  # what podman needs for storage, user namespaces, networks and an init.
  # docker-compose (Debian's, a docker client): the tests bring a compose project up through the sidecar.
  podman) pkgs=$pkgs,podman,crun,conmon,uidmap,fuse-overlayfs,netavark,aardvark-dns,catatonit,docker-compose
          image=$HDC_PODMAN_IMAGE ;;
  *) echo "unknown flavor: $flavor (base or podman)" >&2; exit 2 ;;
esac
key=$(printf '%s\n' "$pkgs" "$(cat "$0")" | sha256sum | cut -c1-12)
tarball=$HDC_CACHE/$flavor-bookworm-$key.tar

# The mirror comes from this machine's apt sources (deb822 first, then one-line form).
mirror() {
  local m
  m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$m" ] || { echo "no Debian mirror found in /etc/apt/sources.list{,.d}" >&2; exit 1; }
  echo "$m"
}

if [ ! -s "$tarball" ]; then
  echo "==> debootstrap bookworm ($pkgs)"
  mkdir -p "$HDC_CACHE"
  root=$(mktemp -d "$HDC_CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$(mirror)" >"$HDC_CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$HDC_CACHE/debootstrap.log" >&2; exit 1; }
  # The dev container user: uid 1000 with passwordless sudo, as in the common base images.
  chroot "$root" groupadd -g 1000 vscode
  chroot "$root" useradd -m -u 1000 -g 1000 -s /bin/bash vscode
  echo 'vscode ALL=(root) NOPASSWD:ALL' > "$root/etc/sudoers.d/vscode"
  chmod 0440 "$root/etc/sudoers.d/vscode"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi

case "$engine" in
  podman)
    as_user=(runuser -u "$HDC_TEST_USER" -- env HOME="$(getent passwd "$HDC_TEST_USER" | cut -d: -f6)" XDG_RUNTIME_DIR=/run/user/$HDC_TEST_UID)
    want=$key
    have=$(cd / && "${as_user[@]}" podman image inspect --format '{{index .Annotations "hdc.key"}}{{.Comment}}' "$image" 2>/dev/null || true)
    if [[ "$have" != *"$want"* ]]; then
      echo "==> podman import $image"
      (cd / && "${as_user[@]}" podman import --message "hdc.key=$key" --change 'CMD ["/bin/bash"]' - "$image" <"$tarball" >/dev/null)
    fi ;;
  docker)
    have=$(docker image inspect --format '{{.Comment}}' "$image" 2>/dev/null || true)
    if [[ "$have" != *"$key"* ]]; then
      echo "==> docker import $image"
      docker import --message "hdc.key=$key" --change 'CMD ["/bin/bash"]' - "$image" <"$tarball" >/dev/null
    fi ;;
  *) echo "unknown engine: $engine" >&2; exit 2 ;;
esac

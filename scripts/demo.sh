#!/usr/bin/env bash
# Quick start, step 1: prepares this machine (once) and brings up examples/hello with
# `hdc up` as the rootless user, then prints the result and proves it from inside.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
. "$here/env.sh"
bash "$here/setup-host.sh"

# The example is copied to a folder the rootless user owns: keep-id maps the container's
# vscode onto that user, so that is who must own the bind mount. The repo stays untouched.
ws=/home/$HDC_TEST_USER/hello
rm -rf "$ws" && cp -r "$repo/examples/hello" "$ws" && chown -R "$HDC_TEST_USER:" "$ws"
as_user=(runuser -u "$HDC_TEST_USER" -- env -i HOME="/home/$HDC_TEST_USER" USER="$HDC_TEST_USER"
         XDG_RUNTIME_DIR="/run/user/$HDC_TEST_UID" PATH=/usr/local/bin:/usr/bin:/bin)
cd /tmp
echo "==> hdc up $ws (podman, rootless as $HDC_TEST_USER)"
"${as_user[@]}" node "$repo/dist/hdc.cjs" up "$ws"
echo "==> inside: $("${as_user[@]}" node "$repo/dist/hdc.cjs" exec "$ws" -- sh -c 'echo "$(id -un) uid=$(id -u) in $(pwd)"; cat .postcreate-ran')"
echo "==> hardening report (hdc status):"
"${as_user[@]}" node "$repo/dist/hdc.cjs" status "$ws" || true
echo "==> stop it with: runuser -u $HDC_TEST_USER -- env XDG_RUNTIME_DIR=/run/user/$HDC_TEST_UID node $repo/dist/hdc.cjs down $ws"

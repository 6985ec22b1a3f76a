#!/bin/bash
# Stand-in written for the hdc test corpus, replacing the original's Python
# post-install step (which needs uv and a downloaded interpreter). It does the same
# kind of local set-up: settings in the Claude config volume, a tmux config, and
# fixing ownership of the mounted volumes with sudo.
set -euo pipefail
for d in "${CLAUDE_CONFIG_DIR:-$HOME/.claude}" "$HOME/.config/gh" /commandhistory; do
  if [ -d "$d" ] && [ "$(stat -c %u "$d")" != "$(id -u)" ]; then
    sudo chown -R "$(id -u):$(id -g)" "$d"
  fi
done
mkdir -p "${CLAUDE_CONFIG_DIR:-$HOME/.claude}"
echo '{"permissions":{"defaultMode":"bypassPermissions"}}' > "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/settings.json"
printf 'set -g history-limit 200000\nset -g mouse on\n' > "$HOME/.tmux.conf"
echo "[post_install] done (hdc corpus stand-in)"

#!/bin/bash
# Stand-in written for the hdc test corpus (not the original script). Same order of
# effects as the original: fix ownership of the .pixi volume with sudo, do the
# project's set-up steps (here offline placeholders for the pixi / Playwright /
# Claude / Codex installs), then bring up the egress firewall with sudo, which needs
# NET_ADMIN and fails without it, as the original does.
set -e

sudo chown -R "$(id -u):$(id -g)" .pixi 2>/dev/null || true

echo "Installing pixi environment... (offline placeholder)"
mkdir -p .pixi/envs/default
echo "hdc corpus placeholder for the pixi environment" > .pixi/envs/default/README

echo "Initializing network firewall..."
sudo /usr/local/bin/init-firewall.sh

echo "Dev container setup complete!"

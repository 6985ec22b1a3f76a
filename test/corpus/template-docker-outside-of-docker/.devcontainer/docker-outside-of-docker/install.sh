#!/bin/sh
# Offline stand-in written for the hdc test corpus: it installs nothing from the
# network, it only records that the feature ran (and with which options).
set -e
mkdir -p /usr/local/share/hdc-corpus

# The real feature installs the docker CLI and an entrypoint that proxies the host socket;
# this stand-in only provides an entrypoint of the same name that runs the command given.
mkdir -p /usr/local/share
printf '#!/bin/sh\n# hdc corpus stand-in: no socket proxy here\nexec "$@"\n' > /usr/local/share/docker-init.sh
chmod +x /usr/local/share/docker-init.sh
echo "docker-outside-of-docker stand-in installed; options: version=${VERSION:-} moby=${MOBY:-} mobyBuildxVersion=${MOBYBUILDXVERSION:-} dockerDashComposeVersion=${DOCKERDASHCOMPOSEVERSION:-} installDockerBuildx=${INSTALLDOCKERBUILDX:-} installDockerComposeSwitch=${INSTALLDOCKERCOMPOSESWITCH:-} socketPath=${SOCKETPATH:-}" > /usr/local/share/hdc-corpus/feature-docker-outside-of-docker

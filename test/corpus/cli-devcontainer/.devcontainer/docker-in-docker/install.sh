#!/bin/sh
# Offline stand-in written for the hdc test corpus: it installs nothing from the
# network, it only records that the feature ran (and with which options).
set -e
mkdir -p /usr/local/share/hdc-corpus

# The real feature installs the engine and an entrypoint that starts dockerd; this
# stand-in only provides an entrypoint of the same name that runs the command given.
mkdir -p /usr/local/share
printf '#!/bin/sh\n# hdc corpus stand-in: no docker daemon here\nexec "$@"\n' > /usr/local/share/docker-init.sh
chmod +x /usr/local/share/docker-init.sh
echo "docker-in-docker stand-in installed; options: version=${VERSION:-} moby=${MOBY:-} mobyBuildxVersion=${MOBYBUILDXVERSION:-} dockerDashComposeVersion=${DOCKERDASHCOMPOSEVERSION:-} azureDnsAutoDetection=${AZUREDNSAUTODETECTION:-} dockerDefaultAddressPool=${DOCKERDEFAULTADDRESSPOOL:-} installDockerBuildx=${INSTALLDOCKERBUILDX:-} installDockerComposeSwitch=${INSTALLDOCKERCOMPOSESWITCH:-} disableIp6tables=${DISABLEIP6TABLES:-} iptablesSwitchAtRuntime=${IPTABLESSWITCHATRUNTIME:-}" > /usr/local/share/hdc-corpus/feature-docker-in-docker

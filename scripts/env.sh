# Shared names for the test bed. Sourced by the other scripts; the TypeScript
# test helpers read the same values from test/support/testbed.ts.
HDC_TEST_USER=${HDC_TEST_USER:-hdctest}
HDC_TEST_UID=${HDC_TEST_UID:-1500}   # uid 1000 is taken on these hosts
HDC_CACHE=${HDC_CACHE:-/var/cache/hardened-devcontainers}
HDC_BASE_IMAGE=localhost/hardened-devcontainers/base:bookworm
HDC_STATE=/run/hardened-devcontainers      # pid files of daemons we start
HDC_PODMAN_IMAGE=localhost/hardened-devcontainers/podman:bookworm

import { main } from './gateway';

// The sidecar's entrypoint (dist/sidecar-gateway.cjs), run by the host's Node inside the sidecar.
main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`hdc sidecar gateway: ${(e as Error).message}\n`);
  process.exit(1);
});

/**
 * The default routes' gateways of a network namespace, from /proc/net/route (IPv4: the
 * addresses are little-endian hex). Read by the agent (the blocked probe's target) and the
 * filtering resolver (an address no answer may open).
 */
export function routeGateways(route: string): string[] {
  const out: string[] = [];
  for (const line of route.split('\n').slice(1)) {
    const [, destination, gateway] = line.trim().split(/\s+/);
    if (destination === '00000000' && gateway && gateway !== '00000000') {
      const n = parseInt(gateway, 16);
      out.push([0, 8, 16, 24].map((shift) => (n >>> shift) & 255).join('.'));
    }
  }
  return out;
}

/** The first default route's gateway, if any. */
export const defaultGateway = (route: string): string | undefined => routeGateways(route)[0];

/**
 * Rules by name, as the filtering resolver applies them (pure; unit-tested).
 *
 *   example.com     that name only
 *   *.example.com   any name under it, at any depth (a.example.com, x.y.example.com), not
 *                   example.com itself: list both when both are wanted
 *
 * One wildcard form only: `*.` matches at any depth, as in Anthropic's sandbox-runtime and
 * Coder's boundary. A one-level-only form (Docker Sandboxes' `*.` against its `**.`) would
 * break on the CDN names that wildcards exist for (x.y.cdn.example.net), and two forms that
 * differ by one star invite the wrong one. A wildcard at or above a public suffix of the
 * ICANN section of the Public Suffix List (`*.com`, `*.co.uk`) is refused. The list's private
 * section is not used for this: `*.githubusercontent.com`, the wildcard users need most, sits
 * on a private-section suffix.
 */

export interface NameRules {
  exact: Set<string>;
  /** Suffixes of wildcard rules, with their leading dot: ".example.com". */
  under: string[];
}

export function compileRules(entries: readonly string[]): NameRules {
  const exact = new Set<string>();
  const under: string[] = [];
  for (const e of entries) {
    if (e.startsWith('*.')) under.push(e.slice(1));
    else exact.add(e);
  }
  return { exact, under };
}

/** A query name as a rule sees it: lower case, no trailing dot. */
export const canonicalName = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export function matches(rules: NameRules, name: string): boolean {
  const n = canonicalName(name);
  if (rules.exact.has(n)) return true;
  for (const s of rules.under) if (n.endsWith(s) && n.length > s.length) return true;
  return false;
}

/** The resolver's decision: denied entries win over allowed ones. */
export function nameAllowed(allow: NameRules, deny: NameRules, name: string): boolean {
  return !matches(deny, name) && matches(allow, name);
}

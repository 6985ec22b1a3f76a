/* eslint-disable no-control-regex -- these tests look for control bytes on purpose */
import { strict as assert } from 'node:assert';
import { stripAnsi } from '../../src/base/text';
import { canAllow, printable, renderBlocked, worthShowing } from '../../src/ops/blocked';
import { describeChange } from '../../src/ops/allowlist';

const entry = (kind: 'name' | 'address', value: string) => ({ kind, value, count: 2, first: '2026-11-30T10:00:00.000Z', last: '2026-11-30T10:05:00.000Z' });

/** What the workspace puts in the blocked log is shown, never obeyed: escaped, and Allow only for a valid rule. */
describe('blocked log values, as terminals and the editor show them', () => {
  it('prints a query name with odd bytes quoted and escaped; a plain one as it is', () => {
    assert.equal(printable('api.example.com'), 'api.example.com');
    assert.equal(printable('a\u001b[31mred'), '"a\\u001b[31mred"');
    assert.equal(printable('[x](command:evil)'), '[x](command:evil)');
    assert.equal(printable('x y'), '"x y"');
    assert.equal(printable('caf\u00e9'), '"caf\\u00e9"');
    assert.equal(printable('a\u009bb'), '"a\\u009bb"');
  });

  it('Allow only for what the firewall\'s validator takes', () => {
    assert.equal(canAllow(entry('name', 'api.example.com')), true);
    assert.equal(canAllow(entry('address', '203.0.113.7')), true);
    assert.equal(canAllow(entry('address', 'fd00:89:77::20')), true);
    assert.equal(canAllow(entry('name', '[x](command:workbench.action.terminal.sendSequence)')), false);
    assert.equal(canAllow(entry('name', 'a\u001b[31m.example.com')), false);
    // A query name the workspace made up to look like a wider rule: never an Allow.
    for (const v of ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1', '1.2.3.4', '*.evil.example', '*.workers.dev']) assert.equal(canAllow(entry('name', v)), false, v);
    assert.equal(canAllow(entry('address', '203.0.113.0/24')), false);
  });

  it('hdc blocked never writes an escape sequence to the terminal', () => {
    const out = renderBlocked([entry('name', 'evil\u001b]0;title\u0007.example'), entry('name', 'ok.example.com')]);
    assert.doesNotMatch(out, /\u001b/);
    assert.match(out, /not a name or address that a rule can take/);
    assert.match(out, /to allow: hdc allow ok\.example\.com/);
  });

  it('leaves hdc\'s own leak probes and multicast out', () => {
    assert.equal(worthShowing(entry('name', 'hdc-leak-probe-0a1b2c3d4e5f.invalid')), false);
    assert.equal(worthShowing(entry('address', 'ff02:0000:0000:0000:0000:0000:0000:0016')), false);
    assert.equal(worthShowing(entry('address', '224.0.0.251')), false);
    assert.equal(worthShowing(entry('address', '203.0.113.7')), true);
    assert.equal(worthShowing(entry('name', 'hdc-leak-probe.example.com')), true);
  });

  it('strips CSI and OSC sequences from CLI output', () => {
    assert.equal(stripAnsi('\u001b[1mbold\u001b[0m \u001b]0;title\u0007done\r'), 'bold done');
    // What it does not parse loses its control bytes: nothing reaches a terminal that it would obey.
    assert.doesNotMatch(stripAnsi('a\u009b31mb \u001bPtmux;\u001b\u001b]52;c;eA==\u0007 \u001b]0;open'), /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    assert.equal(stripAnsi('tab\tand\nnewline'), 'tab\tand\nnewline');
  });
});

describe('describeChange: what Allow says', () => {
  const base = { entry: 'api.example.com', kind: 'domain' as const, settingsFile: '/w/.vscode/settings.json' };
  const live = (lookup?: { name: string; addresses: string[]; error?: string }) => ({
    dns: { v4: [], v6: [] }, unresolved: [], loaded: { v4: 0, v6: 0 }, verify: {}, ms: { load: 1, verify: 1 }, lookup,
  });

  it('names the rule and what the name resolves to', () => {
    const d = describeChange({ ...base, live: live({ name: 'api.example.com', addresses: ['203.0.113.7', '2001:db8::7'] }) }, 'allow');
    assert.equal(d.warning, false);
    assert.match(d.message, /^Allowed api\.example\.com \(allowedDomains\): live in the running container, and saved to \/w\/\.vscode\/settings\.json\. It resolves to 203\.0\.113\.7, 2001:db8::7\.$/);
  });

  it('a name that resolves to nothing is a warning, not a success', () => {
    const d = describeChange({ ...base, live: live({ name: 'api.example.com', addresses: [], error: 'ENOTFOUND' }) }, 'allow');
    assert.equal(d.warning, true);
    assert.match(d.message, /But api\.example\.com resolves to nothing: the name does not exist \(NXDOMAIN\)\. Check the spelling/);
  });

  it('without a running container it says when the rule applies', () => {
    assert.match(describeChange(base, 'allow').message, /it applies when the container comes up\.$/);
  });
});

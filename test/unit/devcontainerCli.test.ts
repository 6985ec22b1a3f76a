import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseUpOutput, renderCliLogLine } from '../../src/base/devcontainerCli';
import { HdcError } from '../../src/base/errors';

const fixture = (name: string): string => readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'up', name), 'utf8');

describe('devcontainer up result', () => {
  it('parses the success line, even after other output', () => {
    const r = parseUpOutput({ stdout: `noise\n${fixture('success.txt')}`, stderr: '', exitCode: 0 });
    assert.equal(r.remoteUser, 'vscode');
    assert.equal(r.remoteWorkspaceFolder, '/workspaces/hello');
    assert.match(r.containerId, /^4fd1c0a9/);
  });

  it('turns the error line into an HdcError with the CLI message', () => {
    assert.throws(() => parseUpOutput({ stdout: fixture('error.txt'), stderr: '{"type":"text"}', exitCode: 1 }),
      (e: HdcError) => e instanceof HdcError && /devcontainer up failed: Command failed: podman run/.test(e.message) && /An error occurred setting up/.test(e.message));
  });

  it('fails clearly when there is no result line', () => {
    assert.throws(() => parseUpOutput({ stdout: '', stderr: 'boom', exitCode: 1 }), /printed no result \(exit 1\)/);
  });

  it('renders the JSON log stream', () => {
    assert.deepEqual(renderCliLogLine('{"type":"start","level":2,"text":"Starting container"}'), { text: '▶ Starting container', step: 'Starting container' });
    assert.deepEqual(renderCliLogLine('{"type":"text","level":2,"text":"hello\\n"}'), { text: 'hello' });
    assert.deepEqual(renderCliLogLine('not json'), { text: 'not json' });
    assert.equal(renderCliLogLine(''), undefined);
  });
});

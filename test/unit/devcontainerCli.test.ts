import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cliLookupAnswers, parseUpOutput, renderCliLogLine } from '../../src/base/devcontainerCli';
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
    assert.deepEqual(renderCliLogLine('{"type":"start","level":3,"text":"Starting container"}'), { text: '▶ Starting container', step: 'Starting container', level: 'info' });
    assert.deepEqual(renderCliLogLine('{"type":"text","level":3,"text":"hello\\n"}'), { text: 'hello', level: 'info' });
    assert.deepEqual(renderCliLogLine('{"type":"text","level":2,"text":"details"}'), { text: 'details', level: 'debug' });
    assert.deepEqual(renderCliLogLine('not json'), { text: 'not json', level: 'info' });
    assert.equal(renderCliLogLine(''), undefined);
  });

  it('never makes a progress step of a command the CLI runs, strips ANSI escapes, and logs the buildx probe\'s failure at trace level', () => {
    const cmd = renderCliLogLine('{"type":"start","level":3,"text":"Run: /home/u/.local/state/hdc/podman-shim buildx version"}');
    assert.equal(cmd?.step, undefined);
    assert.equal(cmd?.level, 'debug');
    assert.equal(renderCliLogLine('{"type":"start","level":3,"text":"Run in container: /bin/sh -c echo"}')?.step, undefined);
    const lifecycle = renderCliLogLine(JSON.stringify({ type: 'raw', level: 3, text: '\u001b[1mRunning the postCreateCommand from devcontainer.json...\u001b[0m\r\n\r\n' }));
    assert.deepEqual(lifecycle, { text: 'Running the postCreateCommand from devcontainer.json...', step: 'Running the postCreateCommand', level: 'info' });
    // The container's own output can print that line: nothing of the rest reaches a progress message.
    const forged = renderCliLogLine(JSON.stringify({ type: 'raw', level: 3, text: 'Running the postCreateCommand from [Approve](command:workbench.extensions.installExtension?%22evil.x%22).\r\n' }));
    assert.equal(forged?.step, 'Running the postCreateCommand');
    assert.equal(renderCliLogLine('{"type":"text","level":3,"text":"Error: unrecognized command `podman buildx version`"}')?.level, 'trace');
    assert.equal(renderCliLogLine('\u001b[31mred\u001b[0m')?.text, 'red');
  });
});

describe('the CLI\'s look-ups, answered from hdc\'s own (cliLookupAnswers)', () => {
  const base = { workspaceFolder: '/w', configFile: '/w/.devcontainer/devcontainer.json' };
  const id = (c: string) => c.repeat(64);

  it('spells the CLI\'s ps by folder and config file, and by folder, with podman\'s short ids; the image\'s inspect as printed', () => {
    const answers = cliLookupAnswers({ ...base, folderContainers: [{ id: id('a'), running: true, configFile: base.configFile }], imageName: 'img:1', image: { id: 'sha256:x', user: '', inspectOutput: '[{"Id":"x"}]\n' } });
    assert.deepEqual(answers, [
      { argv: ['ps', '-q', '-a', '--filter', 'label=devcontainer.local_folder=/w', '--filter', 'label=devcontainer.config_file=/w/.devcontainer/devcontainer.json'], stdout: `${'a'.repeat(12)}\n` },
      { argv: ['ps', '-q', '-a', '--filter', 'label=devcontainer.local_folder=/w'], stdout: `${'a'.repeat(12)}\n` },
      { argv: ['inspect', '--type', 'image', 'img:1'], stdout: '[{"Id":"x"}]\n' },
    ]);
  });

  it('no container: empty answers; more than one: left to podman (its order); no image output: no inspect answer', () => {
    assert.deepEqual(cliLookupAnswers({ ...base, folderContainers: [] }).map((a) => a.stdout), ['', '']);
    const two = cliLookupAnswers({ ...base, folderContainers: [{ id: id('a'), running: false, configFile: base.configFile }, { id: id('b'), running: true, configFile: '/w/other.json' }], imageName: 'img:1', image: { id: 'x', user: '' } });
    assert.deepEqual(two, [{ argv: ['ps', '-q', '-a', '--filter', 'label=devcontainer.local_folder=/w', '--filter', 'label=devcontainer.config_file=/w/.devcontainer/devcontainer.json'], stdout: `${'a'.repeat(12)}\n` }]);
  });
});

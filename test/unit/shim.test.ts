import { strict as assert } from 'node:assert';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { shimPath } from '../../src/base/paths';
import { answersDir, removePregate, writeLookupAnswers } from '../../src/base/protocol';

/** Runs the real shim with a fake engine that prints each argument on its own line. */
describe('podman shim (real script, fake engine)', () => {
  let dir: string;
  let fakeEngine: string;
  let log: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hdc-shim-'));
    fakeEngine = path.join(dir, 'fake-podman');
    writeFileSync(fakeEngine, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
    chmodSync(fakeEngine, 0o755);
    log = path.join(dir, 'argv.log');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const shim = (args: string[], env: Record<string, string> = {}): string[] =>
    execFileSync(shimPath(), args, {
      env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine, HDC_UID: '1000', HDC_GID: '1001', HDC_SHIM_LOG: log, ...env },
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    }).split('\n').slice(0, -1);

  it('rewrites --userns=keep-id in run', () => {
    assert.deepEqual(shim(['run', '-d', '--userns=keep-id', '--label', 'a=b', 'img', 'sleep', '1']),
      ['run', '-d', '--userns=keep-id:uid=1000,gid=1001', '--label', 'a=b', 'img', 'sleep', '1']);
  });

  it('rewrites the two-argument form --userns keep-id in create', () => {
    assert.deepEqual(shim(['create', '--userns', 'keep-id', 'img']), ['create', '--userns', 'keep-id:uid=1000,gid=1001', 'img']);
  });

  it('finds the subcommand after global options', () => {
    assert.deepEqual(shim(['--log-level=info', 'run', '--userns=keep-id', 'img']),
      ['--log-level=info', 'run', '--userns=keep-id:uid=1000,gid=1001', 'img']);
  });

  it('leaves other userns values and other subcommands untouched', () => {
    assert.deepEqual(shim(['run', '--userns=host', 'img']), ['run', '--userns=host', 'img']);
    assert.deepEqual(shim(['run', '--userns=keep-id:uid=5,gid=6', 'img']), ['run', '--userns=keep-id:uid=5,gid=6', 'img']);
    assert.deepEqual(shim(['exec', '-i', '-u', 'vscode', 'c1', 'echo', '--userns=keep-id']), ['exec', '-i', '-u', 'vscode', 'c1', 'echo', '--userns=keep-id']);
    assert.deepEqual(shim(['inspect', '--type', 'image', 'a b', "it's", '$(x)']), ['inspect', '--type', 'image', 'a b', "it's", '$(x)']);
  });

  it('passes -v through', () => {
    assert.deepEqual(shim(['-v']), ['-v']);
  });

  it('adds --since <time of invocation> to events', () => {
    const before = Math.floor(Date.now() / 1000);
    const out = shim(['events', '--format', 'json', '--filter', 'event=start']);
    const after = Math.ceil(Date.now() / 1000);
    assert.deepEqual(out.slice(0, 6), ['events', '--format', 'json', '--filter', 'event=start', '--since']);
    const since = Number(out[6]);
    assert.ok(since >= before && since <= after, `--since ${out[6]} is the invocation time`);
    assert.equal(out.length, 7);
  });

  describe('the CLI\'s events follower and its run (HDC_EVENTS)', () => {
    let xdg: string;
    let eventsLog: string;
    before(() => {
      xdg = mkdtempSync(path.join(tmpdir(), 'hdc-xdg-'));
      mkdirSync(path.join(xdg, 'libpod', 'tmp', 'events'), { recursive: true });
      eventsLog = path.join(xdg, 'libpod', 'tmp', 'events', 'events.log');
      writeFileSync(eventsLog, '{"Status":"start"}\n'.repeat(100));
    });
    after(() => rmSync(xdg, { recursive: true, force: true }));

    it('with the file logger at its default path: no --since (no full read of the log); notes the pid of the follower, its child', () => {
      const note = path.join(dir, 'events-pid');
      const pidEngine = path.join(dir, 'pid-podman');
      // Then ends the shim as the CLI does once it has its event (SIGKILL).
      // (Once the shim has written its note: under load the kill could come first.)
      writeFileSync(pidEngine, '#!/bin/sh\necho "$$"; for a in "$@"; do printf "%s\\n" "$a"; done\n'
        + 'n=0; while [ ! -s "$HDC_EVENTS" ] && [ "$n" -lt 500 ]; do sleep 0.01; n=$((n + 1)); done\nkill -9 "$PPID"\n');
      chmodSync(pidEngine, 0o755);
      const r = spawnSync(shimPath(), ['events', '--format', 'json'], {
        env: { PATH: process.env.PATH, HDC_ENGINE: pidEngine, HDC_UID: '1000', HDC_GID: '1001', HDC_EVENTS: note, XDG_RUNTIME_DIR: xdg }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.signal, 'SIGKILL', r.stderr);
      const out = r.stdout.split('\n').slice(0, -1);
      assert.deepEqual(out.slice(1), ['events', '--format', 'json']);
      assert.equal(readFileSync(note, 'utf8').trim(), `${out[0]} ${eventsLog}`);
    });

    it('a follower that fails (any status but 0) is passed on, not followed again', () => {
      const failing = path.join(dir, 'failing-events');
      writeFileSync(failing, '#!/bin/sh\necho "Error: bad filter" >&2; exit 3\n');
      chmodSync(failing, 0o755);
      const r = spawnSync(shimPath(), ['events', '--format', 'json'], {
        env: { PATH: process.env.PATH, HDC_ENGINE: failing, HDC_UID: '1000', HDC_GID: '1001', HDC_EVENTS: path.join(dir, 'events-failing'), XDG_RUNTIME_DIR: xdg }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 3);
      assert.equal(r.stderr, 'Error: bad filter\n');
    });

    it('without the default log file (journald, or another path): --since, and the note says so', () => {
      const note = path.join(dir, 'events-since');
      const out = shim(['events', '--format', 'json'], { HDC_EVENTS: note, XDG_RUNTIME_DIR: path.join(dir, 'no-such-runtime-dir') });
      assert.deepEqual(out.slice(0, 3), ['events', '--format', 'json']);
      assert.equal(out[3], '--since');
      assert.equal(readFileSync(note, 'utf8').trim(), 'since');
    });

    it('run waits until the follower has the log open and has moved past its start', async () => {
      const note = path.join(dir, 'events-wait');
      const ready = path.join(dir, 'follower-ready');
      rmSync(ready, { force: true });
      // The fake follower opens the log, waits 400 ms, marks itself ready, then reads to the end.
      const follower = spawn(process.execPath, ['-e', `
        const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(eventsLog)}, 'r');
        setTimeout(() => { fs.writeFileSync(${JSON.stringify(ready)}, 'yes'); const b = Buffer.alloc(65536); while (fs.readSync(fd, b, 0, b.length, null) > 0); }, 400);
        setInterval(() => {}, 1000);`], { stdio: 'ignore' });
      try {
        writeFileSync(note, `${follower.pid} ${eventsLog}\n`);
        // The engine for run says whether the follower was ready when run reached podman.
        const runEngine = path.join(dir, 'run-podman');
        writeFileSync(runEngine, `#!/bin/sh\n[ -f ${JSON.stringify(ready)} ] && echo ready || echo early\n`);
        chmodSync(runEngine, 0o755);
        const out = await new Promise<string>((resolve, reject) => execFile(shimPath(), ['run', '--userns=keep-id', 'img'], {
          env: { PATH: process.env.PATH, HDC_ENGINE: runEngine, HDC_UID: '1000', HDC_GID: '1000', HDC_EVENTS: note, XDG_RUNTIME_DIR: xdg }, encoding: 'utf8',
        }, (e, stdout) => (e ? reject(e) : resolve(stdout))));
        assert.equal(out.trim(), 'ready');
      } finally {
        follower.kill();
      }
    });

    it('run does not wait when the follower replays (--since) or is gone, when the hook waits, or without a note', () => {
      const note = path.join(dir, 'events-nowait');
      const env = { HDC_EVENTS: note, XDG_RUNTIME_DIR: xdg };
      writeFileSync(note, 'since\n');
      assert.deepEqual(shim(['run', 'img'], env), ['run', 'img']);
      writeFileSync(note, `999999999 ${eventsLog}\n`);
      assert.deepEqual(shim(['run', 'img'], env), ['run', 'img']);
      // With HDC_EVENTS_WAIT=hook, run does not even read the note (a FIFO no one writes would block it).
      const fifo = path.join(dir, 'events-fifo');
      execFileSync('mkfifo', [fifo]);
      assert.deepEqual(execFileSync(shimPath(), ['run', 'img'], {
        env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine, HDC_UID: '1000', HDC_GID: '1000', HDC_EVENTS: fifo, HDC_EVENTS_WAIT: 'hook', XDG_RUNTIME_DIR: xdg },
        encoding: 'utf8', timeout: 10_000 }).split('\n').slice(0, -1), ['run', 'img']);
      // The CLI's `start` (a stopped container) follows no events: it says so, unless a follower did.
      writeFileSync(note, '');
      assert.deepEqual(shim(['start', 'c1'], env), ['start', 'c1']);
      assert.equal(readFileSync(note, 'utf8').trim(), 'none');
      writeFileSync(note, `123 ${eventsLog}\n`);
      shim(['start', 'c1'], env);
      assert.equal(readFileSync(note, 'utf8').trim(), `123 ${eventsLog}`);
      // create and exec never wait for a follower.
      rmSync(note, { force: true });
      assert.deepEqual(shim(['create', 'img'], env), ['create', 'img']);
    });
  });

  it('logs the argv that podman receives', () => {
    rmSync(log, { force: true });
    shim(['run', '--userns=keep-id', 'img']);
    const fields = readFileSync(log, 'utf8').trim().split('\t');
    assert.match(fields[0], /^\d+$/);
    assert.deepEqual(fields.slice(1), ['run', '--userns=keep-id:uid=1000,gid=1001', 'img']);
  });

  it('refuses to run without HDC_ENGINE, and run/create without ids', () => {
    assert.throws(() => shim(['ps'], { HDC_ENGINE: '' }), (e: { stderr: string }) => /HDC_ENGINE must name the real podman/.test(e.stderr));
    assert.throws(() => execFileSync(shimPath(), ['run', '--userns=keep-id', 'img'], {
      env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine }, stdio: 'pipe' }), (e: { stderr: Buffer }) => /HDC_UID must be set/.test(e.stderr.toString()));
  });

  it('holds exec at the gate until it says "open", then passes it on', async () => {
    const gate = path.join(dir, 'gate-open');
    const child = execFile(shimPath(), ['exec', '-u', 'vscode', 'c1', 'true'], {
      env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine, HDC_GATE: gate }, encoding: 'utf8' });
    const done = new Promise<{ code: number | null; out: string }>((resolve) => {
      let out = '';
      child.stdout?.on('data', (d: string) => { out += d; });
      child.on('close', (code) => resolve({ code, out }));
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(child.exitCode, null, 'exec went through before the gate opened');
    writeFileSync(gate, 'open');
    const r = await done;
    assert.equal(r.code, 0);
    assert.deepEqual(r.out.split('\n').slice(0, -1), ['exec', '-u', 'vscode', 'c1', 'true']);
    // Other subcommands never wait.
    assert.deepEqual(shim(['ps'], { HDC_GATE: path.join(dir, 'never') }), ['ps']);
  });

  describe('the pregate (HDC_PREGATE): the CLI starts while hdc still prepares', () => {
    const pregated = (args: string[], gate: string, env: Record<string, string> = {}) => execFile(shimPath(), args, {
      env: { PATH: process.env.PATH, HDC_ENGINE: fakeEngine, HDC_PREGATE: gate, HDC_PID: String(process.pid), ...env }, encoding: 'utf8' });
    const finished = (child: ReturnType<typeof execFile>) => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: string) => { out += d; });
      child.stderr?.on('data', (d: string) => { err += d; });
      child.on('close', (code) => resolve({ code, out, err }));
    });

    it('holds every call until "open UID GID", then runs with those ids', async () => {
      const gate = path.join(dir, 'pregate-open');
      const child = pregated(['run', '--userns=keep-id', 'img'], gate);
      const done = finished(child);
      const version = finished(pregated(['-v'], gate));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(child.exitCode, null, 'run went through before the pregate opened');
      writeFileSync(gate, 'open 1234 5678\n');
      const r = await done;
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out.split('\n').slice(0, -1), ['run', '--userns=keep-id:uid=1234,gid=5678', 'img']);
      assert.deepEqual((await version).out.split('\n').slice(0, -1), ['-v']);
    });

    it('"open image" (a build): run hands its argv to hdc and waits for the ids read from that image', async () => {
      const gate = path.join(dir, 'pregate-image');
      writeFileSync(gate, 'open image\n');
      const argv = ['run', '--sig-proxy=false', '--userns=keep-id', '-l', 'x=a b', 'vsc-img', '-c', 'echo Container started\ntrap "exit 0" 15', '-'];
      const child = pregated(argv, gate);
      const done = finished(child);
      // Other calls (the CLI's build, inspect) go through at once.
      assert.deepEqual((await finished(pregated(['build', '-t', 'vsc-img', '.'], gate))).out.split('\n').slice(0, -1), ['build', '-t', 'vsc-img', '.']);
      let handed = '';
      for (let i = 0; i < 100 && !handed; i++) {
        handed = (() => { try { return readFileSync(`${gate}.run`, 'utf8'); } catch { return ''; } })();
        if (!handed) await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(handed.split('\0').slice(0, -1), argv, 'the argv, NUL-separated, exactly as the CLI gave it');
      assert.equal(child.exitCode, null, 'run went through before hdc answered');
      writeFileSync(`${gate}.ids`, 'open 1234 4321\n');
      const r = await done;
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out.split('\n')[2], '--userns=keep-id:uid=1234,gid=4321');
    });

    it('"open image": run refuses when hdc closes the ids (a missing user, root)', async () => {
      const gate = path.join(dir, 'pregate-image-closed');
      writeFileSync(gate, 'open image\n');
      writeFileSync(`${gate}.ids`, 'closed');
      const r = await finished(pregated(['run', '--userns=keep-id', 'img'], gate));
      assert.equal(r.code, 1);
      assert.match(r.err, /hdc refused the image's remote user/);
      assert.equal(r.out, '', 'nothing reached podman');
    });

    it('answers the CLI\'s look-ups that hdc made (N.key/N.out) without podman, until a call that may change them', async () => {
      const gate = path.join(dir, 'pregate-answers');
      const answers = [
        { argv: ['ps', '-q', '-a', '--filter', 'label=devcontainer.local_folder=/w s/$(x)'], stdout: '0123456789ab\n' },
        { argv: ['inspect', '--type', 'image', 'img'], stdout: '[{"Id":"x"}]\n' },
        { argv: ['ps', '-q', '-a', '--filter', 'label=a\nb'], stdout: 'never\n' },
      ];
      await writeLookupAnswers(answersDir(gate), answers);
      assert.deepEqual(readdirSync(answersDir(gate)).sort(), ['1.key', '1.out', '2.key', '2.out'], 'an argument with a newline is never answered');
      writeFileSync(gate, 'open 1000 1000\n');
      const call = async (argv: string[]) => finished(pregated(argv, gate, { HDC_ANSWERS: answersDir(gate) }));
      const fromPodman = (argv: string[]) => `${argv.join('\n')}\n`;
      assert.deepEqual(await call(answers[0].argv), { code: 0, out: '0123456789ab\n', err: '' });
      assert.deepEqual(await call(answers[1].argv), { code: 0, out: '[{"Id":"x"}]\n', err: '' });
      // Not the same argv: podman answers (a prefix, one more argument, another image).
      for (const argv of [['ps', '-q', '-a'], [...answers[0].argv, '--no-trunc'], ['inspect', '--type', 'image', 'img2'], ['ps', '-q', '-a', '--filter', 'label=a\nb']]) {
        assert.equal((await call(argv)).out, fromPodman(argv), argv.join(' '));
      }
      // Calls that change nothing leave the answers; a `run` (or any other) removes them first.
      await call(['events', '--format', 'json']);
      await call(['version', '--format', '{{.Server.Version}}']);
      await call(['buildx', 'version']);
      assert.equal((await call(answers[0].argv)).out, '0123456789ab\n');
      await call(['buildx', 'build', '-t', 'img', '.']);
      assert.equal(existsSync(answersDir(gate)), false, 'a buildx build removes them');
      await writeLookupAnswers(answersDir(gate), answers.slice(0, 2));
      assert.equal((await call(['run', '--userns=keep-id', 'img'])).code, 0);
      assert.equal(existsSync(answersDir(gate)), false);
      assert.equal((await call(answers[0].argv)).out, fromPodman(answers[0].argv), 'after the run, podman answers');
      await writeLookupAnswers(answersDir(gate), answers.slice(1));
      await call(['exec', 'c1', 'true']);
      assert.equal(existsSync(answersDir(gate)), false, 'exec removes them too');
      await removePregate(gate);
    });

    it('after the start: keeps podman\'s answer to `inspect --type container FULLID` (and the 12-digit form) while the folder exists; an exec that passed the gate removes what was added while it waited', async () => {
      const gate = path.join(dir, 'pregate-started');
      const calls = path.join(dir, 'started-calls.log');
      const counting = path.join(dir, 'fake-podman-counting');
      // Prints its argv and logs the call; `inspect` of the container dead…dead fails.
      writeFileSync(counting, `#!/bin/sh\necho "$*" >>'${calls}'\ncase "$*" in *deaddead*) echo "no such container" >&2; exit 125 ;; esac\nfor a in "$@"; do printf "%s\\n" "$a"; done\n`);
      chmodSync(counting, 0o755);
      writeFileSync(gate, 'open 1000 1000\n');
      const answers = answersDir(gate);
      const call = async (argv: string[], env: Record<string, string> = {}) => finished(execFile(shimPath(), argv, {
        env: { PATH: process.env.PATH, HDC_ENGINE: counting, HDC_PREGATE: gate, HDC_PID: String(process.pid), HDC_ANSWERS: answers, ...env }, encoding: 'utf8' }));
      const podmanCalls = (): string[] => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').slice(0, -1) : []);
      const full = '9c0fe25115f7'.repeat(5).concat('0eef');
      const inspect = (id: string): string[] => ['inspect', '--type', 'container', id];
      const printed = (argv: string[]): string => `${argv.join('\n')}\n`;
      // No folder (the run removed it, hdc has not written yet): nothing is kept.
      assert.equal((await call(inspect(full))).out, printed(inspect(full)));
      assert.equal(existsSync(answers), false);
      // hdc's answers after the start make the folder again; the shim's inspect joins them.
      const ps = ['ps', '-q', '-a', '--filter', 'label=devcontainer.local_folder=/w'];
      await writeLookupAnswers(answers, [{ argv: ps, stdout: `${full.slice(0, 12)}\n` }], 'started-');
      assert.deepEqual(await call(ps), { code: 0, out: `${full.slice(0, 12)}\n`, err: '' });
      assert.deepEqual(await call(inspect(full)), { code: 0, out: printed(inspect(full)), err: '' });
      const before = podmanCalls().length;
      assert.deepEqual(await call(inspect(full)), { code: 0, out: printed(inspect(full)), err: '' }, 'the same call again');
      assert.deepEqual(await call(inspect(full.slice(0, 12))), { code: 0, out: printed(inspect(full)), err: '' }, 'the 12-digit id: the full id\'s answer');
      assert.equal(podmanCalls().length, before, 'both answered without podman');
      // Not kept: a short or non-hex id, another form, a failure (podman's status and message pass on).
      for (const argv of [inspect(full.slice(0, 12).replace('9', 'a')), inspect(`${full.slice(0, 63)}g`), ['inspect', full], ['container', 'inspect', full]]) {
        const n = podmanCalls().length;
        await call(argv);
        await call(argv);
        assert.equal(podmanCalls().length, n + 2, argv.join(' '));
      }
      const dead = inspect('dead'.repeat(16));
      const n = podmanCalls().length;
      for (let i = 0; i < 2; i++) {
        const missing = await call(dead);
        assert.deepEqual([missing.code, missing.out, missing.err], [125, '', 'no such container\n']);
      }
      assert.equal(podmanCalls().length, n + 2, 'a failed inspect is never kept');
      // An exec held at the gate removes the answers again once it passes: hdc may have written
      // some while it waited (hdc writes its own before it opens the gate).
      const execGate = path.join(dir, 'gate-started');
      const exec = call(['exec', 'c1', 'true'], { HDC_GATE: execGate });
      await new Promise((r) => setTimeout(r, 200));
      await writeLookupAnswers(answers, [{ argv: ps, stdout: 'written while exec waited\n' }], 'started-');
      writeFileSync(execGate, 'open\n');
      assert.equal((await exec).code, 0);
      assert.equal(existsSync(answers), false, 'exec removed them after the gate');
      assert.equal((await call(ps)).out, printed(ps), 'podman answers');
      await removePregate(gate);
    });

    it('calls side by side while the answers go (execs dropping them, look-ups reading them) all succeed', async () => {
      const gate = path.join(dir, 'pregate-race');
      writeFileSync(gate, 'open 1000 1000\n');
      const ps = ['ps', '-q', '-a', '--filter', 'label=devcontainer.local_folder=/w'];
      const call = async (argv: string[]) => finished(pregated(argv, gate, { HDC_ANSWERS: answersDir(gate) }));
      for (let round = 0; round < 15; round++) {
        await writeLookupAnswers(answersDir(gate), [{ argv: ps, stdout: 'answered\n' }, { argv: ['inspect', 'x'], stdout: 'x\n' }], 'started-');
        const results = await Promise.all([
          ...Array.from({ length: 4 }, () => call(['exec', 'c1', 'true'])),
          ...Array.from({ length: 4 }, () => call(ps)),
        ]);
        for (const r of results) assert.equal(r.code, 0, r.err);
        for (const r of results.slice(4)) assert.ok(['answered\n', `${ps.join('\n')}\n`].includes(r.out), r.out);
        assert.equal(existsSync(answersDir(gate)), false, `round ${round}: the execs dropped them`);
      }
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.gone.')), [], 'nothing is left of the dropped folders');
      // What a killed shim would leave (a renamed folder, a kept inspect's output) goes with the pregate.
      mkdirSync(`${answersDir(gate)}.gone.123`);
      writeFileSync(`${answersDir(gate)}.123.out`, '[]');
      await removePregate(gate);
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith(path.basename(gate))), []);
    });

    it('refuses when hdc closes it, and when hdc is gone', async () => {
      const gate = path.join(dir, 'pregate-closed');
      writeFileSync(gate, 'closed');
      const closed = await finished(pregated(['buildx', 'version'], gate));
      assert.equal(closed.code, 1);
      assert.match(closed.err, /hdc stopped this up before its container was made; refusing/);
      assert.equal(closed.out, '', 'nothing reached podman');
      const orphan = await finished(pregated(['ps'], path.join(dir, 'pregate-never'), { HDC_PID: '999999999' }));
      assert.equal(orphan.code, 1);
      assert.match(orphan.err, /hdc is gone; refusing/);
    });
  });

  it('refuses exec when the gate says anything but "open" (the firewall did not verify)', () => {
    const gate = path.join(dir, 'gate-closed');
    writeFileSync(gate, 'closed');
    assert.throws(() => shim(['exec', 'c1', 'sh'], { HDC_GATE: gate }), (e: { stderr: string; status: number }) =>
      e.status === 1 && /the firewall was not verified; refusing exec/.test(e.stderr));
  });
});

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../../src/base/errors';
import { ANNOTATIONS, CLI_LABELS } from '../../src/base/labels';
import {
  checkPrivilegeSources, checkRunArgs, hostConfigProblems, mountProblem, parseProcStatus, procProblems, REFUSED_CAPS, refusedHostPath,
  weakeningSecurityOpt, checkImageAnnotations, type PrivilegeSource } from '../../src/hardening/privilege';
import { engineWords, lifecycleError } from '../../src/base/devcontainerCli';
import { HostConfigPrivilege } from '../../src/base/engine';

const FILE = '/w/.devcontainer/devcontainer.json';

describe('privilege: runArgs', () => {
  for (const args of [['--privileged'], ['--cap-add', 'SYS_PTRACE'], ['--cap-add=mknod'], ['--cap-add', 'CAP_SYS_ADMIN'], ['--cap-add=ALL'],
    ['--cap-add', 'NET_ADMIN,SYS_MODULE'], ['--network', 'host'], ['--net=container:abc'], ['--network=ns:/proc/1/ns/net'], ['--pid', 'host'],
    ['--pid=container:abc'], ['--ipc=host'], ['--uts', 'host'], ['--userns=host'], ['--uidmap', '0:1:1'], ['--security-opt', 'seccomp=unconfined'],
    ['--security-opt=apparmor:unconfined'], ['--security-opt', 'label=disable'], ['--security-opt', 'systempaths=unconfined'], ['--device', '/dev/sda'],
    ['--device=/dev/kmsg:/dev/kmsg'], ['-v', '/var/run/docker.sock:/var/run/docker.sock'], ['--volume=/run/user/1500/podman:/p'],
    ['--mount', 'type=bind,source=/run/podman/podman.sock,target=/s'], ['--volumes-from', 'other'],
    ['--annotation', `${ANNOTATIONS.firewall}=/tmp/x`], [`--annotation=${ANNOTATIONS.role}=sidecar`],
    ['--hooks-dir=/tmp'], ['--runtime', '/w/x'], ['--conmon=/w/x'], ['--seccomp-policy=image'], ['--device-cgroup-rule', 'c *:* rwm'], ['--group-add', 'keep-groups'],
    ['--annotation', 'run.oci.keep_original_groups=1'], ['--cgroupns=host'], ['--sysctl', 'kernel.core_pattern=|/x'], ['-v/run/user/1000/bus:/b'], ['-v=/var/run/docker.sock:/s'],
    ['-itv', '/var/run/docker.sock:/s'], ['--mount', 'type=bind,Source=/run/docker.sock,target=/s'], ['--device=/dev/dri/../sda:/dev/xvda'], ['--security-opt', 'mask=/x'],
    ['-c', 'echo Container started'], ['--log-opt', 'path=/home/me/.bashrc'], ['--label', `${CLI_LABELS.localFolder}=/other`], ['--network', 'slirp4netns:allow_host_loopback=true'],
    ['--annotation', 'org.systemd.property.MemoryMax=infinity'], ['-v', '/home/me/src:/s:U'], ['--env-file', '/home/me/.npmrc'], ['--security-opt', 'label=type:unconfined_t'],
    ['--security-opt', 'apparmor=crun'],
    // The filtering resolver's ground: its upstream, and the ports only it may bind.
    ['--dns', '203.0.113.66'], ['--dns=203.0.113.66'], ['--sysctl', 'net.ipv4.ip_unprivileged_port_start=0'], ['--sysctl=net.ipv4.ip_nonlocal_bind=1'],
    ['--sysctl', 'net.ipv4.conf.all.route_localnet=1'], ['--sysctl', 'net.ipv4/ip_unprivileged_port_start=0'], ['--sysctl=net.ipv4..ip_unprivileged_port_start=0'],
    ['--sysctl', 'net.ipv4.conf.all/route_localnet=1'], ['--network-alias', 'api.anthropic.com'],
    // podman reads these as CSV: a comma makes a second value, quotes move the split.
    ['--annotation', `a=1,${ANNOTATIONS.role}=sidecar`], ['--annotation', `"x""${ANNOTATIONS.firewall}=/w/.fw"`], ['--annotation', 'a=1,run.oci.hooks.stderr=/home/me/.bashrc'],
    ['--cap-add', 'CHOWN,"BPF"'], ['--sysctl', 'net.ipv4.ip_forward=1,kernel.core_pattern=|/x'], ['--device', '/dev/fuse,/dev/mem']]) {
    it(`refuses ${args.join(' ')}`, () => {
      const r = checkRunArgs(['--cpus', '2', ...args], FILE, 'podman');
      assert.equal(r.refusals.length, 1, JSON.stringify(r));
      assert.equal(r.refusals[0].what, `"${args.join(' ')}"`);
      assert.match(r.refusals[0].fix, /remove it/);
      assert.throws(() => checkPrivilegeSources([], FILE, false, r), (e: InputError) => e instanceof InputError && e.message.startsWith(`${FILE}: runArgs: "${args.join(' ')}"`));
    });
  }

  it('withholds NET_ADMIN and NET_RAW (an agent devcontainer\'s own firewall) and keeps the rest of the flag', () => {
    const r = checkRunArgs(['--cap-add=NET_ADMIN', '--cap-add', 'NET_RAW,SYS_NICE', '--cpus', '2'], FILE, 'podman');
    assert.deepEqual(r.refusals, []);
    assert.deepEqual(r.withheld.map((w) => w.cap), ['NET_ADMIN', 'NET_RAW']);
    assert.equal(r.withheld[0].where, 'runArgs "--cap-add=NET_ADMIN"');
    assert.deepEqual(r.runArgs, ['--cap-add', 'SYS_NICE', '--cpus', '2']);
  });

  it('allows the rest, and podman\'s own --userns=keep-id', () => {
    const args = ['--cpus', '2', '--cap-add', 'CHOWN', '--network', 'mynet', '--label', 'privileged=yes', '--pid', 'private', '--annotation', 'org.example=1',
      '--device', '/dev/fuse', '--device=/dev/dri/renderD128', '-v', '/home/me/data:/data', '--security-opt', 'no-new-privileges', '--userns=keep-id', '-e', '--privileged',
      '-it', '--init', '-p', '8080:80', '--sysctl', 'net.ipv6.conf.all.disable_ipv6=1', '-v', 'named-vol:/v', '--name=x', '-c', '512'];
    const r = checkRunArgs(args, FILE, 'podman');
    assert.deepEqual(r.refusals, []);
    assert.deepEqual(r.runArgs, args, 'a flag\'s value ("-e --privileged") is not read as a flag');
    assert.equal(checkRunArgs(['--userns=keep-id'], FILE, 'docker').refusals.length, 1, 'docker has no keep-id');
    assert.deepEqual(checkRunArgs(undefined, FILE, 'podman').runArgs, []);
    assert.deepEqual(checkRunArgs(['--privileged', '--name', 'x'], FILE, 'podman').refusals.map((r) => r.what), ['"--privileged"'], '--privileged takes no value');
  });
});

describe('privilege: the merged configuration and its sources', () => {
  const feature = (request: PrivilegeSource['request']): PrivilegeSource => ({ kind: 'feature', name: './docker-in-docker', request });
  const merged = (request: PrivilegeSource['request']): PrivilegeSource => ({ kind: 'merged configuration', request });

  it('names the feature that asks for privileged, with the fix', () => {
    assert.throws(() => checkPrivilegeSources([feature({ privileged: true }), merged({ privileged: true })], FILE, false), (e: InputError) =>
      /^feature "\.\/docker-in-docker" \(its devcontainer-feature\.json\): "privileged": true/.test(e.message) && /remove the feature "\.\/docker-in-docker"/.test(e.fix ?? '')
      && !/merged/.test(e.message));
  });

  it('names the image label entry that asks for SYS_PTRACE and seccomp=unconfined', () => {
    const label: PrivilegeSource = { kind: 'image label', name: 'img:1', request: { id: 'go', capAdd: ['SYS_PTRACE'], securityOpt: ['seccomp=unconfined'] } };
    assert.throws(() => checkPrivilegeSources([label, merged({ capAdd: ['SYS_PTRACE'], securityOpt: ['seccomp=unconfined'] })], FILE, false), (e: InputError) =>
      e.message.includes('devcontainer.metadata label of image img:1 (entry "go"): capAdd SYS_PTRACE') && e.message.includes('securityOpt "seccomp=unconfined"'));
  });

  it('withholds NET_ADMIN asked in devcontainer.json capAdd, refuses it from a feature', () => {
    const file: PrivilegeSource = { kind: 'devcontainer.json', request: { capAdd: ['NET_ADMIN'] } };
    assert.deepEqual(checkPrivilegeSources([file, merged({ capAdd: ['NET_ADMIN'] })], FILE, false).map((w) => w.cap), ['NET_ADMIN']);
    assert.throws(() => checkPrivilegeSources([feature({ capAdd: ['NET_ADMIN'] }), merged({ capAdd: ['NET_ADMIN'] })], FILE, false), /feature "\.\/docker-in-docker".*capAdd NET_ADMIN/);
  });

  it('refuses what only the merge holds, naming the merge', () => {
    assert.throws(() => checkPrivilegeSources([merged({ capAdd: ['SYS_ADMIN'] })], FILE, false), /merged configuration.*capAdd SYS_ADMIN/);
    assert.throws(() => checkPrivilegeSources([merged({ capAdd: ['NET_RAW'] })], FILE, false), /merged configuration.*capAdd NET_RAW/);
  });

  it('refuses an engine socket in mounts, as a string or an object', () => {
    const file: PrivilegeSource = { kind: 'devcontainer.json', request: { mounts: ['source=/var/run/docker.sock,target=/var/run/docker-host.sock,type=bind', { source: '/run/user/1500/podman/podman.sock', target: '/p', type: 'bind' }] } };
    assert.throws(() => checkPrivilegeSources([file], FILE, false), (e: InputError) => /docker\.sock/.test(e.message) && /podman\.sock/.test(e.message));
  });

  it('passes a plain configuration', () => {
    assert.deepEqual(checkPrivilegeSources([feature({ capAdd: ['SYS_NICE'], init: true }), merged({ capAdd: ['SYS_NICE'], mounts: ['type=volume,source=x,target=/x'] })], FILE, false), []);
  });
});

describe('privilege: rules', () => {
  it('refuses host paths that lead out: sockets, system folders, podman\'s and hdc\'s own, ".." tricks', () => {
    const protectedDirs = ['/home/me/.config/containers', '/home/me/.local/share/hardened-devcontainers'];
    for (const p of ['/var/run/docker.sock', '/run/docker.sock', '/run/user/1500/podman/podman.sock', '/run/user/1500', '/run/user/1000/bus', '/run/user/1000/systemd/private',
      '/run/dbus/system_bus_socket', '/tmp/.X11-unix/X0', '/run', '/var/run/', '/', '/home', '/proc/sys', '/sys', '/dev', '/dev/sda', '/x/y/docker.sock',
      '/home/me/.config/containers', '/home/me/.config', '/home/me', '/home/me/.local/share/hardened-devcontainers/bin', '/tmp/../run/user/1000', '//run', '/dev/dri/../sda', '/var/lib/docker/volumes/x/_data',
      '/tmp', '/var/tmp', '/tmp/tmux-1000', '/tmp/ssh-abc/agent.1']) {
      assert.ok(refusedHostPath(p, { protectedDirs }), p);
    }
    assert.ok(refusedHostPath('/home/me/src/link', { resolved: '/run/user/1000/bus' }), 'followed as the kernel would');
    assert.ok(refusedHostPath('/home/me/src/agent', { isSocket: true }), 'any socket');
    for (const p of ['/home/me/src', '/home/me/.gitconfig', '/tmp/project/x', '/dev/fuse', '/dev/dri/renderD128', '/var/lib/dockerish', '/etc/hosts']) {
      assert.equal(refusedHostPath(p, { protectedDirs }), undefined, p);
    }
  });

  it('refuses mount strings that engines could read otherwise: quotes, repeated keys, commas in an object', () => {
    assert.match(mountProblem('type=volume,source=v,target=/x,type=bind,source=/run/user/1000') ?? '', /repeats "type"/);
    assert.match(mountProblem('type=bind,source=/home/u/proj,target=/x,src=/run/user/1000') ?? '', /repeats "source"/);
    assert.match(mountProblem('type=bind,"source=/p/a,b",target=/x') ?? '', /quoted fields/);
    assert.match(mountProblem({ type: 'volume', source: 'v,type=bind,source=/run/user/1000', target: '/x' }) ?? '', /"," or "="/);
  });

  it('refuses a writable bind from outside the workspace (from a feature or an image label; hdc makes devcontainer.json\'s read-only)', async () => {
    const ctx = { workspace: '/home/me/proj' };
    assert.match(mountProblem('type=bind,source=/home/me/.gitconfig,target=/g', ctx) ?? '', /writable and outside the workspace/);
    assert.equal(mountProblem('type=bind,source=/home/me/.gitconfig,target=/g,readonly', ctx), undefined);
    assert.equal(mountProblem('type=bind,source=/home/me/proj/sub,target=/s', ctx), undefined);
    const { readOnlyOutside } = await import('../../src/hardening/privilege');
    const r = readOnlyOutside(['source=${localEnv:HOME}/.gitconfig,target=/g,type=bind', 'source=${localWorkspaceFolder}/x,target=/x,type=bind', 'source=vol,target=/v,type=volume',
      { type: 'bind', source: '/srv/a', target: '/a' }], '/home/me/proj');
    assert.deepEqual(r.mounts, ['source=${localEnv:HOME}/.gitconfig,target=/g,type=bind,readonly', 'source=${localWorkspaceFolder}/x,target=/x,type=bind', 'source=vol,target=/v,type=volume',
      { type: 'bind', source: '/srv/a', target: '/a', readonly: true }]);
    assert.deepEqual(r.changed, ['${localEnv:HOME}/.gitconfig', '/srv/a']);
  });

  it('refuses docker\'s volume options (a volume can bind any host path), and reads any key case', () => {
    assert.match(mountProblem('type=volume,src=x,dst=/s,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/var/run') ?? '', /volume options/);
    assert.match(mountProblem('type=bind,Source=/var/run/docker.sock,target=/s') ?? '', /socket/);

    assert.equal(mountProblem('source=claude-code-bashhistory-x,target=/commandhistory,type=volume'), undefined);
    assert.equal(mountProblem({ type: 'bind', source: '/home/me/.gitconfig', target: '/home/vscode/.gitconfig' }), undefined);
  });

  it('knows the security options that weaken confinement', () => {
    for (const o of ['seccomp=unconfined', 'seccomp:/x.json', 'apparmor=unconfined', 'label=disable', 'label:disable', 'label=type:spc_t', 'unmask=ALL', 'systempaths=unconfined']) {
      assert.ok(weakeningSecurityOpt(o, false), o);
    }
    assert.ok(weakeningSecurityOpt('no-new-privileges=false', true));
    for (const o of ['no-new-privileges', 'no-new-privileges:true', 'label=level:s0', 'apparmor=my-profile']) assert.equal(weakeningSecurityOpt(o, true), undefined, o);
  });

  it('reads the kernel\'s account of a process', () => {
    const plain = parseProcStatus('Name:\tsh\nCapBnd:\t00000000800401fb\nNoNewPrivs:\t0\nSeccomp:\t2\n');
    assert.ok(plain);
    assert.deepEqual(procProblems(plain, false), []);
    assert.deepEqual(procProblems(plain, true), ['runs without no-new-privileges']);
    assert.match(procProblems(parseProcStatus('CapBnd:\t00000000800401fb\nCapAmb:\t0000000000200000\nSeccomp:\t2\n')!, false)[0], /holds SYS_ADMIN/, 'every capability set');
    const privileged = parseProcStatus('CapBnd:\t000001ffffffffff\nSeccomp:\t0\nNoNewPrivs:\t0\n');
    assert.ok(privileged);
    const problems = procProblems(privileged, false);
    assert.match(problems[0], /^holds DAC_READ_SEARCH, .*NET_ADMIN, NET_RAW, .*SYS_ADMIN/);
    assert.match(problems[1], /without a seccomp filter/);
  });

  it('reads the engine\'s record of a container', () => {
    const clean: HostConfigPrivilege = { privileged: false, capAdd: [], securityOpt: [], pidMode: '', ipcMode: 'private', utsMode: '', usernsMode: '', networkMode: 'container:abc', devices: [], mountSources: ['/w'], sysctls: ['net.ipv6.conf.all.disable_ipv6'] };
    assert.deepEqual(hostConfigProblems(clean, false, true), []);
    const weak = { ...clean, privileged: true, capAdd: ['CAP_SYS_ADMIN'], securityOpt: ['seccomp=unconfined'], pidMode: 'host', networkMode: 'bridge', devices: ['/dev/mem'], mountSources: ['/var/run/docker.sock'],
      sysctls: ['net.ipv4.ip_unprivileged_port_start'] };
    const p = hostConfigProblems(weak, true, true);
    assert.equal(p.length, 9, p.join('\n'));
    assert.ok(p.includes('sets net.ipv4.ip_unprivileged_port_start, which the firewall depends on (or in a spelling hdc does not read)'));
  });

  it('drops and refuses the same capabilities', () => {
    assert.ok(REFUSED_CAPS.includes('NET_ADMIN') && REFUSED_CAPS.includes('SYS_ADMIN') && REFUSED_CAPS.includes('DAC_READ_SEARCH'));
    assert.ok(!(REFUSED_CAPS as string[]).includes('CHOWN'));
  });
});

describe('privilege: the hook\'s read-back of an OCI spec (privilege-check.sh)', function () {
  // Each case runs the real script (a bash per spec): ~30 of them in one case on a busy 2-core machine.
  this.timeout(60_000);
  const script = path.join(import.meta.dirname, '..', '..', 'src', 'hardening', 'privilege-check.sh');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hdc-priv-'));
  const policy = path.join(dir, 'privilege');
  writeFileSync(policy, `caps=${REFUSED_CAPS.join(' ')}\nnnp=0\nuserns=1\nprotect=/home/me/.config/containers\nprotect=/home/me/.local/share/containers\n`
    + `allow=/home/me/.local/state/hdc/w/sidecar/podman-client.conf\nstore=${dir}/store\nstore=${dir}/runroot\nprotect=${dir}/store\nworkspace=/home/me\n`);
  // podman's own files, where podman keeps them (real files: they are checked for symlinks).
  for (const f of [`${dir}/runroot/overlay-containers/x/userdata/resolv.conf`, `${dir}/store/overlay-containers/x/userdata/shm`, `${dir}/store/volumes/v1/_data`]) {
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, '');
  }
  const base = {
    process: { capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SETUID'] }, noNewPrivileges: false },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/workspaces/w', type: 'bind', source: '/home/me/w', options: ['rbind', 'rw'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: `${dir}/runroot/overlay-containers/x/userdata/resolv.conf`, options: ['rbind', 'rw'] },
      { destination: '/dev/shm', type: 'bind', source: `${dir}/store/overlay-containers/x/userdata/shm`, options: ['rbind', 'rw'] },
      { destination: '/data', type: 'bind', source: `${dir}/store/volumes/v1/_data`, options: ['rbind', 'rw'] }],
    linux: { namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'user'].map((type) => ({ type })), seccomp: { defaultAction: 'SCMP_ACT_ERRNO' }, maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] } };
  const check = (spec: unknown, pol = policy): { ok: boolean; out: string } => {
    const f = path.join(dir, `spec-${Math.random()}.json`);
    writeFileSync(f, JSON.stringify(spec));
    try {
      execFileSync('sh', [script, f, pol], { stdio: ['ignore', 'pipe', 'pipe'] });
      return { ok: true, out: '' };
    } catch (e) {
      return { ok: false, out: String((e as { stderr: Buffer }).stderr) };
    }
  };
  const withLinux = (extra: Record<string, unknown>): unknown => ({ ...base, linux: { ...base.linux, ...extra } });

  it('passes the hardened spec', () => assert.deepEqual(check(base), { ok: true, out: '' }));
  it('refuses a refused capability in any set (privileged holds them all)', () => {
    assert.match(check({ ...base, process: { capabilities: { bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] } } }).out, /holds CAP_SYS_ADMIN/);
    assert.match(check({ ...base, process: { capabilities: { bounding: ['CAP_CHOWN'], inheritable: ['CAP_SYS_ADMIN'], ambient: ['CAP_SYS_ADMIN'] } } }).out, /holds CAP_SYS_ADMIN/);
  });
  it('refuses a joined user or mount namespace, and a foreign network namespace', () => {
    const ns = (extra: object[]): unknown => withLinux({ namespaces: [...['pid', 'network', 'ipc', 'uts', 'mount', 'user'].map((type) => ({ type })).filter((n) => !extra.some((e) => (e as { type: string }).type === n.type)), ...extra] });
    assert.match(check(ns([{ type: 'user', path: '/proc/9/ns/user' }])).out, /joins another user/);
    assert.match(check(ns([{ type: 'mount', path: '/proc/9/ns/mnt' }])).out, /joins another mount/);
    assert.match(check(ns([{ type: 'network', path: '/proc/9/ns/net' }])).out, /joins the network namespace \/proc\/9/);
    assert.equal(check(ns([{ type: 'network', path: '/run/user/1500/netns/netns-1234-abcd' }])).ok, true, 'podman\'s own netns of a network');
  });
  it('refuses a missing or joined namespace', () => {
    assert.match(check(withLinux({ namespaces: ['network', 'ipc', 'uts', 'mount', 'user'].map((type) => ({ type })) })).out, /host's pid namespace/);
    assert.match(check(withLinux({ namespaces: [{ type: 'pid', path: '/proc/1/ns/pid' }, ...['network', 'ipc', 'uts', 'mount', 'user'].map((type) => ({ type }))] })).out, /joins another pid/);
    assert.match(check(withLinux({ namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type })) })).out, /host's user namespace/);
  });
  it('refuses no seccomp, AppArmor unconfined, no masked paths', () => {
    assert.match(check(withLinux({ seccomp: undefined })).out, /without a default-deny seccomp filter/);
    assert.match(check(withLinux({ seccomp: { defaultAction: 'SCMP_ACT_ALLOW' } })).out, /without a default-deny seccomp filter/);
    assert.match(check(withLinux({ readonlyPaths: [] })).out, /\/proc\/sys writable/);
    assert.match(check({ ...base, process: { ...base.process, apparmorProfile: 'unconfined' } }).out, /AppArmor-unconfined/);
    assert.match(check(withLinux({ maskedPaths: [] })).out, /does not mask \/proc\/kcore/);
  });
  it('refuses a missing no-new-privileges when the setting asks for it', () => {
    const nnp = path.join(dir, 'privilege-nnp');
    writeFileSync(nnp, readFileSync(policy, 'utf8').replace('nnp=0', 'nnp=1'));
    assert.match(check(base, nnp).out, /lacks no-new-privileges/);
    assert.equal(check({ ...base, process: { ...base.process, noNewPrivileges: true } }, nnp).ok, true);
  });
  it('refuses host devices outside the list and engine sockets', () => {
    const mount = (source: string, options = ['rbind', 'ro']): unknown => ({ ...base, mounts: [...base.mounts, { destination: '/x', type: 'bind', source, options }] });
    assert.equal(check(mount('/dev/fuse')).ok, true);
    assert.equal(check(mount('/dev/dri/renderD128')).ok, true);
    assert.match(check(mount('/dev/sda')).out, /mounts \/dev\/sda, and it is, or is under, a system folder/);
    assert.match(check(withLinux({ devices: [{ path: '/dev/mem', type: 'c' }] })).out, /mounts \/dev\/mem/);
    for (const s of ['/run/user/1500/podman/podman.sock', '/var/run/docker.sock', '/run/user/1500', '/run/user/1500/podman', '/', '/run', '/run/user/1000/bus', '/tmp/.X11-unix/X0',
      '/home/me/.config/containers', '/home/me/.config', '/home/me', '/home/me/.local/share/containers/storage/overlay', '/tmp/../run/user/1000', '//run', '/dev/dri/../sda', '/sys/kernel', '/proc/sys']) {
      assert.equal(check(mount(s)).ok, false, s);
    }
    // podman's own files and volumes are allowed only where podman keeps them, not through a symlink.
    for (const s of ['/home/me/.local/state/hdc/w/sidecar/podman-client.conf', '/dev/fuse']) {
      assert.equal(check(mount(s)).ok, true, s);
    }
    assert.match(check(mount('/tmp/x/containers/storage/volumes/v/_data', ['rbind', 'rw'])).out, /writable, outside the workspace/, 'a look-alike outside the store roots is judged as any path');
    assert.match(check(mount('/srv/data', ['rbind', 'rw'])).out, /has \/srv\/data writable, outside the workspace folder/);
    assert.match(check({ ...base, mounts: [...base.mounts, { destination: '/x', type: 'bind', source: '/srv/data' }] }).out, /cannot read whole/, 'a bind without options is not skipped');
    assert.equal(check(mount('/srv/data', ['rbind', 'ro'])).ok, true, 'read-only outside the workspace is fine');
    assert.equal(check(mount('/home/me/w/sub', ['rbind', 'rw'])).ok, true, 'writable inside the workspace');
    assert.equal(check(mount(`${dir}/store/volumes/v1/x/_data`)).ok, false, 'a volume\'s _data only');
    const decoy = `${dir}/store/volumes/v2/_data`;
    mkdirSync(path.dirname(decoy), { recursive: true });
    execFileSync('ln', ['-s', '/run', decoy]);
    assert.match(check(mount(decoy)).out, /system folder|configures podman/, 'not through a symlink');
    for (const s of ['/tmp', '/var/tmp', '/tmp/tmux-1000', '/tmp/ssh-XXXX']) assert.equal(check(mount(s)).ok, false, s);
    const sock = path.join(dir, 'agent.sk');
    execFileSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    assert.match(check(mount(sock)).out, /socket/, 'any socket, whatever its name');
    const link = path.join(dir, 'innocent');
    execFileSync('ln', ['-s', '/run/user', link]);
    assert.match(check(mount(link)).out, /system folder/, 'followed as the kernel would');
    assert.match(check(mount('/tmp/a"b')).out, /escaped character/);
    assert.equal(check({ ...base, annotations: { x: '"bounding":["CAP_SYS_ADMIN"] \\ "source":"/var/run/docker.sock"' } }).ok, true, 'strings cannot imitate structure');
  });
  it('refuses when its policy file is missing', () => assert.match(check(base, path.join(dir, 'nope')).out, /no refused-capability list/));
});

describe('devcontainers CLI failures as data', () => {
  it('reads which lifecycle command failed, and where it came from', () => {
    const e = lifecycleError({ outcome: 'error', message: 'Command failed: /bin/sh -c sudo /usr/local/bin/init-firewall.sh', description: 'postStartCommand from devcontainer.json failed.' });
    assert.deepEqual([e?.hook, e?.origin, e?.command], ['postStartCommand', 'devcontainer.json', '/bin/sh -c sudo /usr/local/bin/init-firewall.sh']);
    assert.equal(lifecycleError({ outcome: 'error', description: 'b of postCreateCommand from feature ./x failed.' })?.origin, 'feature ./x');
    assert.equal(lifecycleError({ outcome: 'error', description: 'An error occurred setting up the container.' }), undefined);
  });

  it('finds the engine\'s own words in the CLI\'s log', () => {
    const log = [
      JSON.stringify({ type: 'text', level: 3, text: '\u001b[1m\u001b[31mError: unrecognized command `podman buildx version`\u001b[39m\u001b[22m' }),
      JSON.stringify({ type: 'text', level: 3, text: 'Error: incorrect mount format: should be --mount type=<bind|tmpfs|volume>,[src=<host-dir|volume-name>,]target=<ctr-dir>[,options]' }),
      JSON.stringify({ type: 'text', level: 3, text: 'Error: Command failed: podman-shim.sh run --sig-proxy=false …' }),
    ].join('\n');
    assert.match(engineWords(log) ?? '', /^incorrect mount format/);
    assert.equal(engineWords('Error: OCI runtime error: runc: error running hook #0: error running hook: exit status 1, stdout: , stderr: hardened-devcontainers: refused: the container holds CAP_SYS_ADMIN'),
      'hardened-devcontainers: refused: the container holds CAP_SYS_ADMIN');
    assert.equal(engineWords('docker: Error response from daemon: invalid mount config'), 'invalid mount config');
    assert.equal(engineWords('all fine'), undefined);
  });
});

describe('init: true on podman', () => {
  it('needs catatonit, and says how to install it', async () => {
    const { requireCatatonit } = await import('../../src/ops/upHost');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hdc-init-'));
    await assert.rejects(requireCatatonit(FILE, [dir]), (e: Error & { fix?: string; exitCode?: number }) =>
      /asks for "init": true, and podman's init \(catatonit\) is not installed/.test(e.message) && /apt-get install catatonit/.test(e.fix ?? '') && e.exitCode === 3);
    writeFileSync(path.join(dir, 'catatonit'), '#!/bin/sh\n', { mode: 0o755 });
    await requireCatatonit(FILE, [dir]);
  });
});

describe('privilege: an image\'s annotations (podman copies them into the container)', () => {
  it('refuses hdc\'s, the runtime\'s, systemd\'s and podman\'s, and quoted keys; lets others through', () => {
    for (const key of [ANNOTATIONS.role, ANNOTATIONS.firewall, 'run.oci.hooks.stderr', 'org.systemd.property.X', 'io.podman.annotations.privileged', `x"${ANNOTATIONS.firewall}`]) {
      assert.throws(() => checkImageAnnotations({ [key]: 'v' }, 'img:1', FILE), (e: InputError) => e instanceof InputError && e.message.startsWith(`${FILE}: the image img:1 `) && /annotation/.test(e.message), key);
    }
    checkImageAnnotations({ 'org.opencontainers.image.title': 'x' }, 'img:1', FILE);
    checkImageAnnotations(undefined, 'img:1', FILE);
  });
});

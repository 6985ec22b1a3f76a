import { strict as assert } from 'node:assert';
import { InputError } from '../../src/base/errors';
import { parseDevcontainerConfig } from '../../src/config/devcontainerConfig';

const FILE = '/w/.devcontainer/devcontainer.json';

describe('devcontainer.json parsing', () => {
  it('accepts comments and trailing commas', () => {
    const config = parseDevcontainerConfig('{\n // c\n "image": "x", "runArgs": ["--a"],\n}', FILE);
    assert.equal(config.image, 'x');
    assert.deepEqual(config.runArgs, ['--a']);
  });

  it('names the file, line and column of a syntax error', () => {
    assert.throws(() => parseDevcontainerConfig('{\n  "image": "x"\n  "remoteUser": "vscode"\n}', FILE),
      (e: InputError) => e instanceof InputError && e.message.startsWith(`${FILE}:3:3: comma expected`) && /not changed/.test(e.fix ?? ''));
    assert.throws(() => parseDevcontainerConfig('{"image": "x",', FILE), /devcontainer\.json:1:15:/);
  });

  it('requires an object with something to run', () => {
    assert.throws(() => parseDevcontainerConfig('[]', FILE), /must contain a JSON object, found an array/);
    assert.throws(() => parseDevcontainerConfig('{"name": "x"}', FILE), /neither "image" nor "build"/);
    // The CLI would tag the build with "image", replacing that image (the sidecar's, a base image).
    assert.throws(() => parseDevcontainerConfig('{"image": "localhost/hardened-devcontainers/podman:bookworm", "build": {"dockerfile": "Dockerfile"}}', FILE), /both "image" and "build" are set/);
  });

  it('checks the types of the fields it uses', () => {
    assert.throws(() => parseDevcontainerConfig('{"image": 5}', FILE), /"image" must be a string/);
    assert.throws(() => parseDevcontainerConfig('{"image": "x", "runArgs": "--privileged"}', FILE), /"runArgs" must be an array of strings/);
    assert.throws(() => parseDevcontainerConfig('{"image": "x", "containerEnv": ["A=1"]}', FILE), /"containerEnv" must be an object of names to values/);
  });

  it('refuses an image that would reach the engine as an option', () => {
    assert.throws(() => parseDevcontainerConfig('{"image": "-v/:/host"}', FILE), /"image" "-v\/:\/host" is not an image reference/);
    assert.throws(() => parseDevcontainerConfig('{"image": "a b"}', FILE), /is not an image reference/);
    assert.equal(parseDevcontainerConfig('{"image": "localhost/x/base:bookworm@sha256:ab"}', FILE).image, 'localhost/x/base:bookworm@sha256:ab');
  });

  it('says clearly that compose configurations are not supported', () => {
    assert.throws(() => parseDevcontainerConfig('{"dockerComposeFile": "c.yml", "service": "a"}', FILE), /Docker Compose configurations are not supported/);
  });
});

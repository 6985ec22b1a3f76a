import { strict as assert } from 'node:assert';
import { numericIds, pickRemoteUser, resolveUserIds } from '../../src/workspace/remoteUser';

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nvscode:x:1000:1000::/home/vscode:/bin/bash\ndev:x:1234:2345::/home/dev:/bin/sh\n';
const GROUP = 'root:x:0:\nvscode:x:1000:\nstaff:x:50:\n';

describe('remote user', () => {
  it('prefers remoteUser, then containerUser, then the image user, then root', () => {
    assert.equal(pickRemoteUser({ remoteUser: 'a', containerUser: 'b' }, 'c'), 'a');
    assert.equal(pickRemoteUser({ containerUser: 'b' }, 'c'), 'b');
    assert.equal(pickRemoteUser({}, 'c'), 'c');
    assert.equal(pickRemoteUser({}, ''), 'root');
  });

  it('reads uid and gid from the image passwd', () => {
    assert.deepEqual(resolveUserIds('dev', PASSWD, GROUP), { user: 'dev', uid: 1234, gid: 2345, source: 'image' });
    assert.deepEqual(resolveUserIds('vscode:staff', PASSWD, GROUP), { user: 'vscode', uid: 1000, gid: 50, source: 'image' });
    assert.deepEqual(resolveUserIds('1000', PASSWD, GROUP), { user: 'vscode', uid: 1000, gid: 1000, source: 'image' });
  });

  it('returns undefined for a name the image does not have', () => {
    assert.equal(resolveUserIds('ghost', PASSWD, GROUP), undefined);
    assert.equal(resolveUserIds('vscode:ghosts', PASSWD, GROUP), undefined);
  });

  it('takes numeric specs as they are', () => {
    assert.deepEqual(numericIds('1001:1002'), { user: '1001:1002', uid: 1001, gid: 1002, source: 'numeric' });
    assert.deepEqual(numericIds('7'), { user: '7', uid: 7, gid: 7, source: 'numeric' });
    assert.equal(numericIds('vscode'), undefined);
  });
});

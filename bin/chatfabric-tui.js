#!/usr/bin/env node
// Entry for `npx chatfabric-tui`: runs the built terminal client directly (no set-up, so it
// starts at once). `npm run tui` sets up and builds first when needed.
try {
  require.resolve('../dist/tui/main.js');
} catch {
  process.stderr.write('chatfabric-tui: the client is not built yet; run `npm run tui` (or `npm run build`) once in the project.\n');
  process.exit(1);
}
require('../dist/tui/main.js');

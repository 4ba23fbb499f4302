#!/usr/bin/env node
// Entry for `npx chatfabric-tui`: runs the built terminal client.
require('../dist/tui/main.js');

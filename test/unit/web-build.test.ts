import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/worker';

/** The import specifiers of a TypeScript file (static imports and re-exports). */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...src.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
}

/** Every file the browser loads, from web/main.ts along its imports. */
function browserGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (file: string) => {
    if (graph.has(file)) return;
    const specs = importsOf(file);
    graph.set(file, specs);
    for (const s of specs) if (s.startsWith('.')) visit(path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
  };
  visit(path.join(ROOT, 'web', 'main.ts'));
  return graph;
}

describe('the browser build', () => {
  it('imports only relative ES modules with their .js name: nothing from Node or npm, nothing a browser cannot resolve', () => {
    const graph = browserGraph();
    const rel = (f: string) => path.relative(ROOT, f);
    // The shared parts really are shared: the client core, its input grammar and the protocol.
    expect([...graph.keys()].map(rel)).toEqual(expect.arrayContaining(['tui/core/chat-client.ts', 'tui/input.ts', 'src/protocol/index.ts', 'src/protocol/requests.ts']));
    const bad = [...graph].flatMap(([file, specs]) => specs.filter((s) => !/^\.\.?\/.*\.js$/.test(s)).map((s) => `${rel(file)} imports ${s}`));
    expect(bad).toEqual([]);
  });

  it('has the terminal client use the same core, bound to Node only in tui/core/client.ts', () => {
    expect(importsOf(path.join(ROOT, 'tui', 'core', 'client.ts'))).toEqual(['ws', './chat-client', './chat-client']);
    expect(readFileSync(path.join(ROOT, 'tui', 'view.ts'), 'utf8')).toMatch(/from '\.\/core\/client'/);
  });

  it('writes the page and the modules it loads into dist/web', () => {
    const page = readFileSync(path.join(ROOT, 'dist', 'web', 'index.html'), 'utf8');
    const refs = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(refs).toEqual(expect.arrayContaining(['/assets/web/main.js', '/assets/style.css']));
    for (const ref of refs) expect(() => readFileSync(path.join(ROOT, 'dist', 'web', ref))).not.toThrow();
    for (const file of browserGraph().keys()) {
      const out = path.join(ROOT, 'dist', 'web', 'assets', path.relative(ROOT, file).replace(/\.ts$/, '.js'));
      expect(() => readFileSync(out), out).not.toThrow();
    }
  });
});

/**
 * Fails when the documentation drifts from the code: the error and close code tables of
 * docs/protocol.md against src/protocol/codes.ts, and the option table of docs/configuration.md
 * against the convict schema of src/config.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/config';
import { CloseCode, ErrorCode, RECONNECT_CODES } from '../../src/protocol/codes';

const root = path.resolve(__dirname, '../..');
const protocolDoc = readFileSync(path.join(root, 'docs/protocol.md'), 'utf8');
const configDoc = readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');

/** The text of the `## ` section whose heading contains `title`, up to the next `## ` heading. */
function section(doc: string, title: string): string {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith('## ') && l.includes(title));
  if (start < 0) throw new Error(`no "## ... ${title}" section`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('## '));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

/** Cells of each markdown table row (header and separator rows skipped) in `text`. */
function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[\s|:-]+\|$/.test(l))
    .map((l) =>
      l
        .slice(1, l.endsWith('|') ? -1 : undefined)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

/** The first cell's `code`-quoted value of each row, keyed by it. */
function rowsByFirstCell(text: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const cells of tableRows(text)) {
    const m = /^`?([^`]+)`?$/.exec(cells[0]);
    if (m) rows.set(m[1], cells);
  }
  return rows;
}

interface Leaf {
  key: string;
  env?: string;
  arg?: string;
  default: unknown;
}

/** Every option of the convict schema: objects with `doc` and `default` are leaves. */
function leaves(node: Record<string, unknown>, prefix = ''): Leaf[] {
  const out: Leaf[] = [];
  for (const [name, value] of Object.entries(node)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const v = value as Record<string, unknown>;
    if (v && typeof v === 'object' && 'doc' in v && 'default' in v) {
      out.push({ key, env: v.env as string | undefined, arg: v.arg as string | undefined, default: v.default });
    } else if (v && typeof v === 'object') {
      out.push(...leaves(v, key));
    }
  }
  return out;
}

describe('docs/protocol.md error codes', () => {
  const rows = rowsByFirstCell(section(protocolDoc, 'Error codes'));

  it('has a row for every ErrorCode value', () => {
    const missing = Object.values(ErrorCode).filter((c) => !rows.has(c));
    expect(missing, 'error codes missing from the table').toEqual([]);
  });

  it('has no row for a code that does not exist', () => {
    const known = new Set<string>(Object.values(ErrorCode));
    const stale = [...rows.keys()].filter((c) => c !== 'Code' && !known.has(c));
    expect(stale, 'codes in the table but not in codes.ts').toEqual([]);
  });

  it('mentions every error code in the text as well', () => {
    for (const code of Object.values(ErrorCode)) expect(protocolDoc).toContain(`\`${code}\``);
  });
});

describe('docs/protocol.md close codes', () => {
  const rows = rowsByFirstCell(section(protocolDoc, 'Close codes'));
  const documented = new Map<number, string[]>();
  for (const [code, cells] of rows) if (/^\d+$/.test(code)) documented.set(Number(code), cells);

  it('has a row for every CloseCode number, named as in codes.ts', () => {
    for (const [name, code] of Object.entries(CloseCode)) {
      const cells = documented.get(code);
      expect(cells, `close code ${code} (${name}) missing from the table`).toBeDefined();
      expect(cells![1], `name of close code ${code}`).toBe(name);
    }
  });

  it('has a row for every code in RECONNECT_CODES', () => {
    for (const code of RECONNECT_CODES) expect(documented.has(code), `close code ${code}`).toBe(true);
  });

  it('says "yes" in the Reconnect column exactly for RECONNECT_CODES', () => {
    const header = tableRows(section(protocolDoc, 'Close codes'))[0];
    const col = header.indexOf('Reconnect');
    expect(col, 'Reconnect column').toBeGreaterThan(0);
    for (const [code, cells] of documented) {
      expect(cells[col], `Reconnect column of close code ${code}`).toBe(RECONNECT_CODES.has(code) ? 'yes' : 'no');
    }
  });

  it('has no row for a code the server does not know', () => {
    const known = new Set<number>([...Object.values(CloseCode), ...RECONNECT_CODES]);
    const stale = [...documented.keys()].filter((c) => !known.has(c));
    expect(stale, 'close codes in the table but not in codes.ts').toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  const options = leaves(schema as unknown as Record<string, unknown>);
  const rows = rowsByFirstCell(section(configDoc, 'Options'));

  it('walks a non-trivial schema', () => {
    expect(options.length).toBeGreaterThan(20);
    expect(options.every((o) => typeof o.env === 'string' && o.env.length > 0)).toBe(true);
  });

  it('names every environment variable of the schema', () => {
    const missing = options.filter((o) => o.env && !configDoc.includes(`\`${o.env}\``)).map((o) => o.env);
    expect(missing, 'env names missing from docs/configuration.md').toEqual([]);
  });

  it('has one row per option with its env var, argument and default', () => {
    for (const o of options) {
      const cells = rows.get(o.key);
      expect(cells, `row for option ${o.key}`).toBeDefined();
      expect(cells![1], `env of ${o.key}`).toBe(`\`${o.env}\``);
      expect(cells![2], `arg of ${o.key}`).toBe(o.arg ? `\`--${o.arg}\`` : '');
      const shown = o.default === '' ? '`""`' : `\`${String(o.default)}\``;
      expect(cells![3], `default of ${o.key}`).toBe(shown);
    }
  });

  it('has no row for an option the schema does not have', () => {
    const keys = new Set(options.map((o) => o.key));
    const stale = [...rows.keys()].filter((k) => k !== 'Key' && !keys.has(k));
    expect(stale, 'options documented but not in the schema').toEqual([]);
  });
});

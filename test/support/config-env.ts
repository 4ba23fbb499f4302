/** What src/config.ts's schema declares, for tests that compare deployment files with it. */
import { schema } from '../../src/config';

type Node = { [key: string]: unknown };
const isOption = (v: unknown): v is { env: string; default: unknown } => typeof v === 'object' && v !== null && 'doc' in v;

/** Every option of the schema, nested ones included. */
function options(node: Node = schema as unknown as Node): { env: string; default: unknown }[] {
  return Object.values(node).flatMap((v) => (isOption(v) ? [v] : typeof v === 'object' && v !== null ? options(v as Node) : []));
}

/** Every environment name the application reads. */
export function configEnvNames(): string[] {
  return options().map((o) => o.env);
}

/** The default of the option read from this environment name. */
export function configDefault(env: string): unknown {
  return options().find((o) => o.env === env)?.default;
}

import pino from 'pino';

export type Logger = pino.Logger;

/** JSON logs for machines; with `pretty`, pino-pretty for people (it is a dev dependency). */
export function createLogger(opts: { level: string; pretty: boolean; worker: string; shard: string }): Logger {
  const base = { worker: opts.worker, shard: opts.shard };
  if (opts.pretty) {
    try {
      require.resolve('pino-pretty');
      return pino({ level: opts.level, base, transport: { target: 'pino-pretty', options: { colorize: true } } });
    } catch {
      // pino-pretty is absent in a production install: fall back to JSON rather than fail.
    }
  }
  return pino({ level: opts.level, base });
}

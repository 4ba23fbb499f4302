import { randomBytes } from 'node:crypto';

/** A fresh subject and key prefix, so tests sharing one NATS and Redis never see each other. */
export function uniquePrefix(label: string): string {
  return `t${randomBytes(4).toString('hex')}${label.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}`;
}

import { encode, type ChatMessage, type HistoryBatch, type Ref } from './protocol';

/** A join's encoded history frame and the messages it carries. */
export interface HistoryFrame {
  data: string;
  messages: ChatMessage[];
}

/**
 * Encodes a join's history frame, cut to its newest messages if the whole batch is larger than
 * `maxBytes` (what the connection's hard cap leaves for it). A resume reports the ids cut as a
 * gap, exactly as if they were no longer kept: the client marks them missing instead of waiting
 * for them. Only a history far larger than the defaults allow is ever cut.
 */
export function historyFrame(room: string, batch: HistoryBatch, resumed: boolean, maxBytes: number, ref?: Ref): HistoryFrame {
  const refField = ref !== undefined ? { ref } : {};
  const whole = encode({ type: 'history', room, ...batch, ...refField });
  if (Buffer.byteLength(whole) <= maxBytes || batch.messages.length === 0) return { data: whole, messages: batch.messages };
  const all = batch.messages;
  // The frame around the messages, with the largest gap it could carry.
  const widest = { from: Number.MAX_SAFE_INTEGER, to: Number.MAX_SAFE_INTEGER };
  let budget = maxBytes - Buffer.byteLength(encode({ type: 'history', room, messages: [], gap: widest, reset: batch.reset, ...refField }));
  let first = all.length;
  while (first > 0) {
    const size = Buffer.byteLength(JSON.stringify(all[first - 1])) + 1; // and its comma
    if (size > budget) break;
    budget -= size;
    first--;
  }
  const messages = all.slice(first);
  const lastCut = all[first - 1].id;
  const from = batch.gap?.from ?? all[0].id;
  const gap = resumed && !batch.reset && from !== null && lastCut !== null ? { from, to: lastCut } : batch.gap;
  return { data: encode({ type: 'history', room, messages, gap, reset: batch.reset, ...refField }), messages };
}

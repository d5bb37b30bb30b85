import type { AcceptedEvent, RejectedEvent } from "@funnel/events";

/** One queue message: part of one /track request, validated, enriched and with its ids fixed. */
export interface ForwardMessage {
  events: AcceptedEvent[];
  rejected: RejectedEvent[];
}

/**
 * Cloudflare Queues take messages of at most 128 KB and `sendBatch` calls of at most 256 KB, while
 * a /track body may hold 256 KB; a request is therefore split into messages under MESSAGE_BYTES,
 * sent in groups under SEND_BYTES. A refused event's raw body is dropped when it alone is too big.
 */
export const MESSAGE_BYTES = 96 * 1024;
export const SEND_BYTES = 224 * 1024;

const size = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).byteLength;

export function packMessages(batch: ForwardMessage, maxBytes: number = MESSAGE_BYTES): ForwardMessage[] {
  const messages: ForwardMessage[] = [];
  let current: ForwardMessage = { events: [], rejected: [] };
  let bytes = 0;
  const push = (bytesOfItem: number, add: (m: ForwardMessage) => void) => {
    if (bytes + bytesOfItem > maxBytes && bytes > 0) {
      messages.push(current);
      current = { events: [], rejected: [] };
      bytes = 0;
    }
    add(current);
    bytes += bytesOfItem;
  };
  for (const event of batch.events) push(size(event), (m) => m.events.push(event));
  for (const refused of batch.rejected) {
    const item =
      size(refused) > maxBytes / 2 ? { ...refused, raw: { dropped: "too large to keep" } } : refused;
    push(size(item), (m) => m.rejected.push(item));
  }
  if (bytes > 0) messages.push(current);
  return messages;
}

/** Groups messages into `sendBatch` calls that stay under the Queues limit per call. */
export function sendGroups(messages: ForwardMessage[], maxBytes: number = SEND_BYTES): ForwardMessage[][] {
  const groups: ForwardMessage[][] = [];
  let group: ForwardMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const b = size(message);
    if ((bytes + b > maxBytes || group.length === 100) && group.length > 0) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(message);
    bytes += b;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

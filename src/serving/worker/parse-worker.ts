/**
 * Body of the gateway's parse thread: JSON request bodies over `offThreadParseBytes` are parsed here,
 * so a multi-megabyte JSON.parse (about 150 ms for 7 MiB) never stalls the event loop that answers
 * every other request. Inputs come back as Float64Arrays whose buffers are transferred, not copied.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { HttpError } from '../http-util';
import { parseJsonBody } from '../json-body';
import { parseRequest } from '../request-tensors';
import type { ParseReply, ParseTask } from './parse-messages';

/**
 * Big parses yield the CPU to the event loop and the inference threads: on Linux the nice value is
 * per thread, and /proc/thread-self names this one. Elsewhere (or without permission) nothing changes.
 */
function lowerThisThreadsPriority(nice: number): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // Not Linux, or not allowed: the thread keeps its priority.
  }
}

const { nice } = (workerData ?? {}) as { nice?: number };
if (typeof nice === 'number' && nice > 0) lowerThisThreadsPriority(nice);

parentPort?.on('message', (task: ParseTask) => {
  let reply: ParseReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const body = parseJsonBody(Buffer.from(task.bytes), task.maxDepth);
    const request = parseRequest(task.kind, body, { maxRows: task.maxRows });
    reply = { id: task.id, ok: true, request };
    // The general path's values are Float64Arrays: their buffers move to the event loop uncopied.
    for (const i of request.inputs)
      if (i.values instanceof Float64Array) transfer.push(i.values.buffer as ArrayBuffer);
  } catch (e) {
    reply =
      e instanceof HttpError
        ? { id: task.id, ok: false, status: e.status, code: e.code, message: e.message, details: e.details }
        : {
            id: task.id,
            ok: false,
            status: 500,
            code: 'SERVING_PARSE_FAILED',
            message: e instanceof Error ? e.message : String(e),
            details: {},
          };
  }
  parentPort?.postMessage(reply, transfer);
});

import { createSocket, type Socket } from 'node:dgram';

/**
 * A tiny authoritative DNS responder on loopback UDP for tests: it answers A and SRV questions from a
 * table the test can change while it runs (a replica set that scales), NXDOMAIN for unknown names.
 * Enough of RFC 1035 for node:dns's Resolver: one question per query, answers with a name pointer.
 */

export interface DnsRecords {
  a?: Record<string, string[]>;
  srv?: Record<string, { target: string; port: number }[]>;
}

export interface DnsResponder {
  /** "127.0.0.1:<port>", for Resolver.setServers / PROGRADE_GATEWAY_DNS_SERVERS. */
  readonly server: string;
  readonly records: DnsRecords;
  /** Questions answered so far. */
  readonly queries: number;
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_SRV = 33;
const TYPE_AAAA = 28;

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.');
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])),
    Buffer.from([0]),
  ]);
}

function readQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  let i = 12;
  const labels: string[] = [];
  while (i < msg.length) {
    const len = msg[i] ?? 0;
    if (len === 0) break;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += len + 1;
  }
  if (i + 5 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

function answer(type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // the question's name
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // IN
  head.writeUInt32BE(0, 6); // TTL 0: every lookup asks again
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

function respond(msg: Buffer, records: DnsRecords): Buffer | undefined {
  if (msg.length < 12) return undefined;
  const q = readQuestion(msg);
  if (!q) return undefined;
  const answers: Buffer[] = [];
  let known = false;
  if (records.a?.[q.name]) {
    known = true;
    if (q.type === TYPE_A)
      for (const ip of records.a[q.name] ?? [])
        answers.push(answer(TYPE_A, Buffer.from(ip.split('.').map(Number))));
  }
  if (records.srv?.[q.name]) {
    known = true;
    if (q.type === TYPE_SRV)
      for (const r of records.srv[q.name] ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(10, 0); // priority
        fixed.writeUInt16BE(10, 2); // weight
        fixed.writeUInt16BE(r.port, 4);
        answers.push(answer(TYPE_SRV, Buffer.concat([fixed, encodeName(r.target)])));
      }
  }
  void TYPE_AAAA; // AAAA questions get an empty answer (NODATA) for known names
  const header = Buffer.alloc(12);
  msg.copy(header, 0, 0, 2); // id
  header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2); // QR AA RD, rcode
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, msg.subarray(12, q.end), ...answers]);
}

export async function startDnsResponder(records: DnsRecords): Promise<DnsResponder> {
  const socket: Socket = createSocket('udp4');
  let queries = 0;
  socket.on('message', (msg, rinfo) => {
    const reply = respond(msg, records);
    if (!reply) return;
    queries += 1;
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    server: `127.0.0.1:${port}`,
    records,
    get queries() {
      return queries;
    },
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

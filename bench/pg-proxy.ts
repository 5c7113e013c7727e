import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that reads the frontend side of the wire protocol
 * (v3) and counts, per message type, what the clients send. The server child connects to it
 * instead of PostgreSQL, so the real server is measured without any hook in src/.
 *
 * A round trip is a point where the client stops and waits for the server's answer:
 *   Sync ('S')   ends an extended-protocol exchange (Bind/Execute, or Parse/Bind/Execute);
 *   Flush ('H')  asks for the answer so far: postgres.js sends Parse/Describe/Flush for an
 *                unprepared query with parameters and waits for the parameter types before it
 *                sends Bind/Execute/Sync: two round trips for one statement;
 *   Query ('Q')  a simple-protocol query.
 * Statements are Execute ('E') and Query ('Q') messages.
 * Plain-text connections only (postgres.js uses none of TLS on loopback unless told).
 */
export interface WireCounts {
  roundTrips: number;
  statements: number;
  byType: Record<string, number>;
  connections: number;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export class CountingProxy {
  private readonly counts = new Map<string, number>();
  private connectionCount = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<CountingProxy> {
    let proxy: CountingProxy | undefined;
    const server = createServer((client) => proxy!.handle(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no port');
    proxy = new CountingProxy(server, address.port);
    return proxy;
  }

  private handle(client: Socket, target: { host: string; port: number }) {
    this.connectionCount++;
    const upstream = connect(target.port, target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    let startup = true; // the first message (and one after an SSL/GSS request) has no type byte
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      for (;;) {
        if (startup) {
          if (buffered.length < 8) break;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) break;
          const code = buffered.readInt32BE(4);
          startup = code === SSL_REQUEST || code === GSSENC_REQUEST;
          buffered = buffered.subarray(length);
          continue;
        }
        if (buffered.length < 5) break;
        const length = buffered.readInt32BE(1);
        if (buffered.length < length + 1) break;
        const type = String.fromCharCode(buffered[0]!);
        this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
        buffered = buffered.subarray(length + 1);
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  }

  reset(): void {
    this.counts.clear();
  }

  snapshot(): WireCounts {
    const n = (type: string) => this.counts.get(type) ?? 0;
    return {
      roundTrips: n('S') + n('H') + n('Q'),
      statements: n('E') + n('Q'),
      byType: Object.fromEntries(this.counts),
      connections: this.connectionCount,
    };
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

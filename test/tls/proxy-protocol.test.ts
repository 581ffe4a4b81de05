/**
 * PROXY protocol parsing: NLB-style v2 headers (IPv4, IPv6, LOCAL, the AWS VPC endpoint TLV) and
 * v1 lines, fed whole and byte by byte; hostile lengths and random mutations never throw and never
 * report more bytes consumed than were given.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HEADER_BYTES, parseProxyHeader, V2_SIGNATURE } from '../../src/tls/proxy-protocol.js';
import { mulberry32 } from '../helpers/prng.js';

function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = family;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

function ipv4Body(tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from([203, 0, 113, 7]).copy(b, 0);
  Buffer.from([10, 0, 1, 5]).copy(b, 4);
  b.writeUInt16BE(51234, 8);
  b.writeUInt16BE(8443, 10);
  return Buffer.concat([b, tlvs]);
}

function tlv(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(3);
  h[0] = type;
  h.writeUInt16BE(value.length, 1);
  return Buffer.concat([h, value]);
}

describe('PROXY v2', () => {
  it('reads an IPv4 header with the AWS VPC endpoint TLV and leaves the TLS bytes alone', () => {
    const vpce = tlv(0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from('vpce-0abc123def', 'latin1')]));
    const header = v2(1, 0x11, ipv4Body(vpce));
    const input = Buffer.concat([header, Buffer.from([0x16, 0x03, 0x01])]);
    const r = parseProxyHeader(input);
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.consumed).toBe(header.length);
    expect(r.header).toMatchObject({
      command: 'proxy',
      sourceAddress: '203.0.113.7',
      sourcePort: 51234,
      destinationAddress: '10.0.1.5',
      destinationPort: 8443,
      awsVpceId: 'vpce-0abc123def',
    });
  });

  it('reads IPv6 and LOCAL (NLB health checks)', () => {
    const body = Buffer.alloc(36);
    body[15] = 1; // ::1
    body[31] = 2;
    body.writeUInt16BE(1000, 32);
    body.writeUInt16BE(443, 34);
    const r6 = parseProxyHeader(v2(1, 0x21, body));
    expect(r6.kind === 'ok' && r6.header.sourceAddress).toBe('0:0:0:0:0:0:0:1');
    const local = parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)));
    expect(local.kind === 'ok' && local.header.command).toBe('local');
  });

  it('is incomplete until the whole header has arrived, byte by byte', () => {
    const header = v2(1, 0x11, ipv4Body());
    for (let i = 0; i < header.length; i++)
      expect(parseProxyHeader(header.subarray(0, i)).kind).toBe('incomplete');
    expect(parseProxyHeader(header).kind).toBe('ok');
  });

  it('refuses oversized lengths before buffering them, and malformed content', () => {
    const huge = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    expect(parseProxyHeader(huge)).toEqual({ kind: 'invalid', reason: 'PROXY header too long' });
    expect(MAX_HEADER_BYTES).toBeLessThan(0xffff);
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(4))).kind).toBe('invalid');
    expect(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216))).kind).toBe('invalid'); // UNIX
    expect(parseProxyHeader(v2(7, 0x11, ipv4Body())).kind).toBe('invalid');
    const badTlv = Buffer.concat([ipv4Body(), Buffer.from([0xea, 0x00, 0x09, 0x01])]);
    expect(parseProxyHeader(v2(1, 0x11, badTlv))).toEqual({ kind: 'invalid', reason: 'malformed PROXY TLV' });
  });

  it('refuses a TLS ClientHello or plain HTTP where a header is required', () => {
    expect(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01, 0x02])).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('invalid');
  });
});

describe('PROXY v1', () => {
  it('reads TCP4, TCP6 and UNKNOWN lines', () => {
    const line = 'PROXY TCP4 198.51.100.22 10.0.0.1 35646 443\r\n';
    const r = parseProxyHeader(Buffer.from(`${line}\x16\x03`, 'latin1'));
    expect(r).toMatchObject({
      kind: 'ok',
      consumed: line.length,
      header: { sourceAddress: '198.51.100.22', sourcePort: 35646 },
    });
    const r6 = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n'));
    expect(r6.kind === 'ok' && r6.header.sourceAddress).toBe('2001:db8::1');
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')).kind).toBe('ok');
  });

  it('refuses malformed lines and lines without an end', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.999 1.2.3.4 1 2\r\n')).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1 99999\r\n')).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`)).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')).kind).toBe('incomplete');
  });
});

describe('fuzzing', () => {
  it('never throws and never consumes more than it was given (5,000 mutations)', () => {
    const next = mulberry32(0x5eed);
    const rand = (n: number): number => Math.floor(next() * n);
    const seeds = [
      v2(1, 0x11, ipv4Body(tlv(0xea, Buffer.from('\x01vpce-1', 'latin1')))),
      v2(0, 0, Buffer.alloc(0)),
      Buffer.from('PROXY TCP4 198.51.100.22 10.0.0.1 35646 443\r\n'),
    ];
    for (let i = 0; i < 5000; i++) {
      const input = Buffer.from(seeds[i % seeds.length]!);
      const mutated = Buffer.from(input.subarray(0, 1 + rand(input.length)));
      for (let k = rand(4); k > 0; k--) mutated[rand(mutated.length)] = rand(256);
      const r = parseProxyHeader(mutated);
      if (r.kind === 'ok') expect(r.consumed).toBeLessThanOrEqual(mutated.length);
    }
  });
});

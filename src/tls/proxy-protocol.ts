/**
 * PROXY protocol header parsing (v2 binary, as the AWS NLB sends it, and v1 text), written for
 * incremental input: call it with everything received so far until it is no longer `incomplete`.
 * The length field is bounded before anything is allocated, so a hostile header cannot make us
 * buffer more than MAX_HEADER_BYTES; anything malformed is `invalid` and the connection is closed.
 * Pure: no I/O.
 */

export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** NLB headers are well under 1 KiB; refuse anything larger rather than buffer it. */
export const MAX_HEADER_BYTES = 4096;
const V1_MAX = 107;

/** AWS's TLV type carrying the VPC endpoint id (subtype 0x01). */
export const PP2_TYPE_AWS = 0xea;
const PP2_SUBTYPE_AWS_VPCE_ID = 0x01;

export interface ProxyHeader {
  /** `local`: health checks and the like, no client address (use the socket's). */
  readonly command: 'local' | 'proxy';
  readonly sourceAddress?: string;
  readonly sourcePort?: number;
  readonly destinationAddress?: string;
  readonly destinationPort?: number;
  /** AWS PrivateLink: the VPC endpoint id the connection came through. */
  readonly awsVpceId?: string;
  readonly tlvs: readonly { readonly type: number; readonly value: Buffer }[];
}

export type ProxyParse =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'ok'; readonly header: ProxyHeader; readonly consumed: number };

const INCOMPLETE: ProxyParse = { kind: 'incomplete' };
const invalid = (reason: string): ProxyParse => ({ kind: 'invalid', reason });

/** True when `buf` could still be (or already is) the start of a PROXY header of either version. */
export function mayStartWithProxyHeader(buf: Buffer): boolean {
  const n = Math.min(buf.length, V2_SIGNATURE.length);
  if (buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return true;
  const m = Math.min(buf.length, V1_PREFIX.length);
  return buf.subarray(0, m).equals(V1_PREFIX.subarray(0, m));
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function parseTlvs(buf: Buffer): ProxyHeader['tlvs'] | undefined {
  const tlvs: { type: number; value: Buffer }[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 3 > buf.length) return undefined;
    const type = buf[pos]!;
    const length = buf.readUInt16BE(pos + 1);
    if (pos + 3 + length > buf.length) return undefined;
    tlvs.push({ type, value: buf.subarray(pos + 3, pos + 3 + length) });
    pos += 3 + length;
  }
  return tlvs;
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < 16) return INCOMPLETE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return invalid('unsupported PROXY protocol version');
  const command = verCmd & 0x0f;
  if (command > 1) return invalid('unknown PROXY command');
  const family = buf[13]!;
  const length = buf.readUInt16BE(14);
  if (16 + length > MAX_HEADER_BYTES) return invalid('PROXY header too long');
  if (buf.length < 16 + length) return INCOMPLETE;
  const body = buf.subarray(16, 16 + length);
  const consumed = 16 + length;
  if (command === 0) return { kind: 'ok', consumed, header: { command: 'local', tlvs: [] } };

  let addressBytes: number;
  let header: Omit<ProxyHeader, 'tlvs' | 'awsVpceId'>;
  switch (family) {
    case 0x11: // TCP over IPv4
      addressBytes = 12;
      if (body.length < addressBytes) return invalid('PROXY address block truncated');
      header = {
        command: 'proxy',
        sourceAddress: Array.from(body.subarray(0, 4)).join('.'),
        destinationAddress: Array.from(body.subarray(4, 8)).join('.'),
        sourcePort: body.readUInt16BE(8),
        destinationPort: body.readUInt16BE(10),
      };
      break;
    case 0x21: // TCP over IPv6
      addressBytes = 36;
      if (body.length < addressBytes) return invalid('PROXY address block truncated');
      header = {
        command: 'proxy',
        sourceAddress: ipv6(body.subarray(0, 16)),
        destinationAddress: ipv6(body.subarray(16, 32)),
        sourcePort: body.readUInt16BE(32),
        destinationPort: body.readUInt16BE(34),
      };
      break;
    default:
      // UNSPEC, UDP or UNIX sockets carry no TCP client address we could use: refuse.
      return invalid(`unsupported PROXY address family 0x${family.toString(16)}`);
  }
  const tlvs = parseTlvs(body.subarray(addressBytes));
  if (!tlvs) return invalid('malformed PROXY TLV');
  const aws = tlvs.find((t) => t.type === PP2_TYPE_AWS && t.value[0] === PP2_SUBTYPE_AWS_VPCE_ID);
  const awsVpceId = aws ? aws.value.subarray(1).toString('latin1') : undefined;
  if (awsVpceId !== undefined && !/^[A-Za-z0-9-]{1,64}$/.test(awsVpceId))
    return invalid('malformed AWS VPC endpoint id');
  return { kind: 'ok', consumed, header: { ...header, tlvs, ...(awsVpceId ? { awsVpceId } : {}) } };
}

const V1_RE =
  /^PROXY (?:(TCP4) (\d{1,3}(?:\.\d{1,3}){3}) (\d{1,3}(?:\.\d{1,3}){3})|(TCP6) ([0-9a-fA-F:.]{2,45}) ([0-9a-fA-F:.]{2,45})) (\d{1,5}) (\d{1,5})\r\n$/;

function parseV1(buf: Buffer): ProxyParse {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= V1_MAX ? invalid('PROXY v1 line too long') : INCOMPLETE;
  const consumed = end + 2;
  if (consumed > V1_MAX) return invalid('PROXY v1 line too long');
  const line = buf.subarray(0, consumed).toString('latin1');
  if (line === 'PROXY UNKNOWN\r\n' || line.startsWith('PROXY UNKNOWN ')) {
    return { kind: 'ok', consumed, header: { command: 'local', tlvs: [] } };
  }
  const m = V1_RE.exec(line);
  if (!m) return invalid('malformed PROXY v1 line');
  const sourcePort = Number(m[7]);
  const destinationPort = Number(m[8]);
  if (sourcePort > 65535 || destinationPort > 65535) return invalid('PROXY v1 port out of range');
  const v4 = m[1] !== undefined;
  const source = v4 ? m[2]! : m[5]!;
  if (v4 && source.split('.').some((o) => Number(o) > 255)) return invalid('PROXY v1 address out of range');
  return {
    kind: 'ok',
    consumed,
    header: {
      command: 'proxy',
      sourceAddress: source,
      destinationAddress: v4 ? m[3]! : m[6]!,
      sourcePort,
      destinationPort,
      tlvs: [],
    },
  };
}

/** Parses a PROXY header (v2 or v1) at the start of `buf`. */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (!mayStartWithProxyHeader(buf)) return invalid('connection does not start with a PROXY protocol header');
  if (buf.length >= V2_SIGNATURE.length && buf.subarray(0, V2_SIGNATURE.length).equals(V2_SIGNATURE)) {
    return parseV2(buf);
  }
  if (buf.length < V1_PREFIX.length) return INCOMPLETE;
  if (buf[0] === 0x50) return parseV1(buf);
  return INCOMPLETE;
}

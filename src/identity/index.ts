// identity/: turns a verified peer certificate into a ClientIdentity once per connection, and that
// identity into the header sets sent upstream, plus the names of headers clients may not send.
// Pure functions only (no I/O), so a header value can never depend on anything but the verified DER.
export { type ClientIdentity, clientIdentityFromDer } from './client-identity.js';
export {
  defaultPartnerId,
  forwardedValue,
  HEADER_FORMATS,
  type HeaderFormat,
  type HeaderPair,
  headerList,
  headerText,
  identityHeaders,
  isoSeconds,
  pemOf,
  undeclaredClientId,
  urlEncodedPem,
  xfccValue,
} from './headers.js';
export {
  HOP_BY_HOP,
  hasDashAlias,
  headerKey,
  hopByHopNames,
  isForwardingHeader,
  isForwardingKey,
  isHopByHop,
  isIdentityHeader,
  isIdentityKey,
} from './strip.js';

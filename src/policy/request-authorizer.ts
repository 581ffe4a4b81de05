/**
 * The decision for each request: the connection's current verdict (re-checked after trust
 * changes, tls/connection-state.ts), then, on a verified connection, route selection and
 * authorization under the access policy in force, or the gateway's own whoami answer. It owns
 * that policy (GATEWAY_CONFIG, or the one default route) and its reload: a file that fails
 * validation never replaces the policy in force. Per connection, the partner match and identity
 * headers are computed once (at the handshake, `decorate`) and reused for every request.
 */
import type { IncomingMessage } from 'node:http';
import { formatRfc2253 } from '../asn1/name.js';
import type { Config } from '../config/config.js';
import { type ClientIdentity, type HeaderPair, identityHeaders } from '../identity/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import { pastMaxAge, type RequestLimits } from '../proxy/request-limits.js';
import type { RevocationPolicy, Verdict } from '../tls/connection-gate.js';
import { stateOf } from '../tls/connection-state.js';
import { refusalAnswer } from '../tls/refusal.js';
import type { VerifiedClient } from '../trust/rotation-guard.js';
import type { TrustSnapshot } from '../trust/snapshot.js';
import { ConnectionAuthorization } from './connection-authorization.js';
import type { PolicyDocument } from './document.js';
import { Policy } from './policy.js';
import { normalizeRequestPath } from './request-path.js';
import { WHOAMI_PATH, type WhoamiChainElement, whoamiBody } from './whoami.js';

export type ConnectionDecision =
  | {
      readonly ok: true;
      readonly identityHeaders: readonly (readonly [string, string])[];
      readonly partnerId: string;
      readonly clientAddress: string;
      /** The route the policy selected (metrics, logs) and its upstream origin; default: 'default', GATEWAY_UPSTREAM. */
      readonly route?: string;
      readonly upstream?: string;
      /** The request target to forward: the normalized path that was routed, and the query. */
      readonly target?: string;
      /** Bounded partner label for mtls_gateway_partner_requests_total (declared id or `undeclared`). */
      readonly partnerLabel?: string;
      /** Answered by the gateway itself with this JSON (whoami), never forwarded. */
      readonly local?: (requestId: string) => unknown;
      /** The connection is past its maximum age: this answer carries Connection: close. */
      readonly closeAfter?: boolean;
    }
  | {
      readonly ok: false;
      /**
       * This answer is the connection's last (strict mode): it carries Connection: close and the
       * connection closes after it; false (explain mode, authorization): the connection stays open.
       */
      readonly close: boolean;
      readonly status: number;
      readonly error: string;
      /** The problem+json `title` (one per error code); default: the status's reason phrase. */
      readonly title?: string;
      readonly message: string;
      readonly details: Readonly<Record<string, string>>;
      readonly partnerId?: string;
      readonly route?: string;
      readonly partnerLabel?: string;
    };

/** What the request handler asks for every request it receives. */
export interface Authorizer {
  decide(req: IncomingMessage): ConnectionDecision;
}

export interface RequestAuthorizerOptions {
  readonly config: Pick<
    Config,
    'upstream' | 'policyFile' | 'configFile' | 'identityHeaders' | 'devMode' | 'verifyMode'
  >;
  readonly limits: Pick<RequestLimits, 'maxConnectionAgeSeconds'>;
  /** Reads and validates GATEWAY_CONFIG (config/gateway-config-file.ts): the one I/O of a reload. */
  readonly readPolicyFile: (file: string) => { readonly document: PolicyDocument; readonly text: string };
  readonly revocationPolicy: RevocationPolicy;
  /** The trust snapshot in force (verdicts are re-checked against it; whoami's CRL coverage). */
  readonly trust: { readonly current: TrustSnapshot | undefined };
  /** Told of every verified connection with its partner (expiry radar). */
  readonly radar: { observe(cert: ClientIdentity, partnerId: string, partnerLabel: string): void };
  /** The upstream pool registry: kept in step with the origins the policy in force names. */
  readonly upstreams: { sync(origins: Iterable<string>): void };
  /** Where each verified client is reported for the rotation guard (the store, or the cluster primary). */
  readonly reportClient: (client: VerifiedClient) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export class RequestAuthorizer implements Authorizer {
  /** The authorization policy in force, swapped whole. */
  private policy: Policy;
  private policyText: string | undefined;
  /** Per connection (keyed by its frozen identity): partner, cached route decisions, headers. */
  private readonly authorizations = new WeakMap<
    ClientIdentity,
    { auth: ConnectionAuthorization; headers: readonly HeaderPair[] }
  >();

  constructor(private readonly opts: RequestAuthorizerOptions) {
    const { config } = opts;
    this.policy = config.policyFile
      ? Policy.fromDocument(config.policyFile.document, config.upstream.origin)
      : Policy.defaultOnly(config.upstream.origin);
    this.policyText = config.policyFile?.text;
    this.syncUpstreams();
  }

  /** A pool for every upstream origin the policy in force names; those it no longer names close. */
  private syncUpstreams(): void {
    this.opts.upstreams.sync(this.policy.routes.routes.map((r) => r.upstream));
  }

  /**
   * Once per verified connection, right after the gate: its partner (X-Client-Id), matched and
   * cached with its identity headers; the expiry radar and the rotation guard are told of it.
   */
  decorate(verdict: Verdict & { ok: true }): { partnerId: string } {
    const { auth } = this.authorizationFor(verdict.identity);
    const id = verdict.identity;
    this.opts.radar.observe(id, auth.partner.id, auth.partnerLabel);
    this.opts.reportClient({
      partnerId: auth.partner.id,
      fingerprint256: id.fingerprint256,
      leafDer: id.leafDer,
      sentDer: id.chainDer,
    });
    return { partnerId: auth.partner.id };
  }

  /**
   * Whom a verified connection counts against for the per-client connection limit: the identity
   * the upstream is told. A declared partner is one client; an undeclared one is its issuer and
   * X-Client-Id (`cn:…`) together, never per leaf, or a trusted CA could mint a fresh leaf per
   * connection and never be limited.
   */
  clientKey(verdict: Verdict & { ok: true }): string {
    const { partner } = this.authorizationFor(verdict.identity).auth;
    return partner.declared
      ? `partner:${partner.id}`
      : // The issuing CA by its certificate, not its name: a same-name twin CA is another client.
        `undeclared:${JSON.stringify([verdict.chainFingerprints[1] ?? verdict.identity.issuer, partner.id])}`;
  }

  decide(req: IncomingMessage): ConnectionDecision {
    const state = stateOf(req.socket);
    if (!state) return { ok: false, close: true, ...refusalAnswer({ reason: 'other', presented: {} }) };
    const verdict = state.current(this.opts.trust.current, this.opts.revocationPolicy);
    if (verdict.ok) {
      const decision = this.authorize(req, verdict, state.remoteAddress);
      return pastMaxAge(state.establishedAt, this.opts.limits) && decision.ok
        ? { ...decision, closeAfter: true }
        : decision;
    }
    const route = this.routeNameOf(req);
    return {
      ok: false,
      ...(route === undefined ? {} : { route }),
      // Strict: this answer is the connection's last (then it closes); explain: it stays open.
      close: this.opts.config.verifyMode === 'strict',
      ...refusalAnswer(verdict),
      ...(state.partnerId === undefined ? {} : { partnerId: state.partnerId }),
    };
  }

  /**
   * Re-reads GATEWAY_CONFIG (SIGHUP and every trust refresh). A file that fails validation never
   * replaces the policy in force: it is logged and counted, and the old policy keeps deciding. A
   * new one brings the upstream registry in step before it decides its first request.
   */
  reload(): 'unchanged' | 'success' | 'failure' {
    const file = this.opts.config.configFile;
    if (!file) return 'unchanged';
    const { logger } = this.opts;
    let result: 'unchanged' | 'success' | 'failure';
    try {
      const { document, text } = this.opts.readPolicyFile(file);
      if (text === this.policyText) {
        result = 'unchanged';
      } else {
        this.policy = Policy.fromDocument(document, this.opts.config.upstream.origin);
        this.policyText = text;
        this.syncUpstreams();
        result = 'success';
        logger.info({ event: 'policy', msg: 'GATEWAY_CONFIG reloaded', file });
      }
    } catch (err) {
      result = 'failure';
      logger.error({
        event: 'policy',
        msg: 'GATEWAY_CONFIG reload rejected; the policy in force is kept',
        file,
        error: (err as Error).message,
      });
    }
    this.opts.metrics.policyReloads.inc({ result });
    return result;
  }

  /** Partner match and identity headers for a connection under the policy in force, computed once each. */
  private authorizationFor(identity: ClientIdentity): {
    auth: ConnectionAuthorization;
    headers: readonly HeaderPair[];
  } {
    const known = this.authorizations.get(identity);
    if (known && known.auth.policy === this.policy) return known;
    const auth = new ConnectionAuthorization(this.policy, identity);
    // After a reload the partner id (X-Client-Id) may change: then the headers are rebuilt too.
    const headers =
      known &&
      known.auth.partner.id === auth.partner.id &&
      known.auth.partner.declared === auth.partner.declared
        ? known.headers
        : identityHeaders(identity, auth.partner.id, this.opts.config.identityHeaders, auth.partner.declared);
    const entry = { auth, headers };
    this.authorizations.set(identity, entry);
    return entry;
  }

  /** Route selection and authorization for one request on a verified connection. */
  private authorize(
    req: IncomingMessage,
    verdict: Verdict & { ok: true },
    clientAddress: string,
  ): ConnectionDecision {
    const { auth, headers } = this.authorizationFor(verdict.identity);
    const policy = auth.policy;
    const who = { partnerId: auth.partner.id, partnerLabel: auth.partnerLabel };
    const method = req.method ?? 'GET';
    const url = req.url ?? '';
    const refuse = (
      status: number,
      error: string,
      message: string,
      details: Record<string, string>,
      route?: string,
    ) =>
      ({
        ok: false,
        close: false,
        status,
        error,
        message,
        details,
        ...who,
        ...(route ? { route } : {}),
      }) as const;
    // Not origin-form: the request handler answers 400 before anything is forwarded.
    if (!url.startsWith('/')) return { ok: true, identityHeaders: headers, clientAddress, ...who };
    // Routed and forwarded in one normal form (README "Request paths"); `;` only matters with routes.
    const target = normalizeRequestPath(url, policy.fromFile);
    if (!target.ok) {
      return refuse(
        400,
        'bad_request',
        `The request path has ${target.problem}, which this gateway refuses.`,
        {},
      );
    }
    const path = target.path;
    const forwardTarget = `${path}${target.query}`;
    if (path === WHOAMI_PATH && (policy.whoami ?? this.opts.config.devMode)) {
      return {
        ok: true,
        identityHeaders: [],
        clientAddress,
        route: 'whoami',
        ...who,
        local: (requestId) => whoamiBody(verdict.identity, auth, this.whoamiChain(verdict), requestId),
      };
    }
    const selected = policy.select(method, path);
    if (!selected) return refuse(403, 'not_authorized', 'No route accepts this request path.', {});
    const route = selected.route;
    if (!selected.ok) {
      return refuse(
        403,
        'not_authorized',
        `Route '${route.name}' does not accept ${method} requests (refused by ${selected.rule}).`,
        { route: route.name, rule: selected.rule },
        route.name,
      );
    }
    const decision = auth.authorize(route);
    if (!decision.allowed) {
      return refuse(
        403,
        'not_authorized',
        decision.message,
        { route: route.name, rule: decision.rule },
        route.name,
      );
    }
    return {
      ok: true,
      identityHeaders: headers,
      clientAddress,
      route: route.name,
      target: forwardTarget,
      ...who,
      upstream: route.upstream,
    };
  }

  /** The verified chain for whoami, with whether a loaded CRL of each element's issuer covers it. */
  private whoamiChain(verdict: Verdict & { ok: true }): WhoamiChainElement[] {
    const revocation = this.opts.trust.current?.revocation;
    return verdict.chain.map((c, i) => {
      const subject = formatRfc2253(c.subjectDer);
      const issuer = formatRfc2253(c.issuerDer);
      const anchor = i > 0 && i === verdict.chain.length - 1;
      return {
        subject,
        issuer,
        serial: c.serialHex,
        fingerprint256: verdict.chainFingerprints[i] ?? '',
        notAfter: c.notAfter,
        revocation: anchor
          ? 'trust_anchor'
          : revocation?.covers(c, verdict.chain[i + 1])
            ? 'checked'
            : 'no_crl',
      };
    });
  }

  /**
   * The route a refused request's path selects, for its log line and metrics only (nothing is
   * forwarded): a refused `/receipts` is counted under `receipts`, not `default`. Undefined when
   * the path is malformed or no route takes it.
   */
  private routeNameOf(req: IncomingMessage): string | undefined {
    const url = req.url ?? '';
    if (!url.startsWith('/')) return undefined;
    const target = normalizeRequestPath(url, this.policy.fromFile);
    if (!target.ok) return undefined;
    return this.policy.select(req.method ?? 'GET', target.path)?.route.name;
  }
}

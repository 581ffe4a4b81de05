/**
 * inspect/: the security team's offline answers (bundle check and diff, CRL check, explain) built
 * from the gateway's own validators, TLS gate and policy, so a verdict here is the gateway's verdict.
 * It holds no argument parsing or printing (cli/ does that); its only I/O is secret-publish.ts
 * (imported on its own, so the AWS SDK loads only for `push`).
 */

export { type BundleDiff, type BundleDiffInput, diffBundles, type SeenClient } from './bundle-diff.js';
export { type BundleCheckInput, type BundleReport, checkBundle } from './bundle-report.js';
export { type CertificateFacts, certificateFacts, isoSeconds } from './certificate-facts.js';
export {
  type ClientCertificateInput,
  type ClientDecision,
  clientInputFromPem,
  decideClient,
  type TrustUnderTest,
  type VerificationMethod,
} from './client-verdict.js';
export { type CrlDiff, diffCrls, type KnownClient } from './crl-diff.js';
export { type CrlReport, checkCrl } from './crl-report.js';
export { type ExplainStep, type Explanation, explainCertificate } from './explain.js';
export { count, type Finding, type Severity } from './findings.js';
export { loadBundle, loadCrls } from './trust-material.js';

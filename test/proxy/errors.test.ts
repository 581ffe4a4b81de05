/** Content negotiation of the gateway's error bodies: problem+json only when Accept prefers it. */
import { describe, expect, it } from 'vitest';
import { prefersProblemJson } from '../../src/proxy/errors.js';

describe('prefersProblemJson', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['application/json', false],
    ['application/problem+json', true],
    ['Application/Problem+JSON', true],
    ['application/problem+json, application/json', false], // a tie keeps today's JSON
    ['application/problem+json, application/json;q=0.9', true],
    ['application/json;q=0.5, application/problem+json', true],
    ['application/problem+json;q=0.4, */*;q=0.5', false],
    ['application/problem+json, */*;q=0.1', true],
    ['application/*', false],
    ['application/problem+json;q=0', false],
    ['text/html, application/problem+json;q=0.9', true],
  ])('Accept %j → %s', (accept, expected) => {
    expect(prefersProblemJson(accept)).toBe(expected);
  });
});

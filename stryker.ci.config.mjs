// The mutation subset CI runs (`npm run test:mutation:ci`, in .ci/run): the header strip lists,
// the upstream header builder, request paths and the route table, the code that decides what a
// client's bytes become upstream. About 580 mutants; it fails below an 85% score. The whole set
// (`npm run test:mutation`, stryker.config.mjs) takes over an hour on two cores.
import base from './stryker.config.mjs';

export default {
  ...base,
  mutate: [
    'src/identity/strip.ts',
    'src/proxy/upstream-headers.ts',
    'src/policy/request-path.ts',
    'src/policy/route-table.ts',
  ],
  reporters: ['clear-text', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation-ci.json' },
  thresholds: { ...base.thresholds, break: 85 },
};

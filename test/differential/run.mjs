// `npm run test:differential -- --count N [--seed S]`: the differential test with N scenarios
// (default: the CI set) from base seed S, by environment, since vitest takes no test arguments.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const env = { ...process.env };
for (let i = 0; i < args.length; i++) {
  const value = args[i + 1];
  if (args[i] === '--count' && value) env.DIFFERENTIAL_COUNT = value;
  else if (args[i] === '--seed' && value) env.DIFFERENTIAL_SEED = value;
  else {
    console.error(`usage: npm run test:differential -- [--count N] [--seed S] (unknown: ${args[i]})`);
    process.exit(2);
  }
  i++;
}
const r = spawnSync('npx', ['vitest', 'run', 'test/differential'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);

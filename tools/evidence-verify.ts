/**
 * `npm run evidence:verify -- DIR [--key HEX] [--card …]`: the independent verifier's command line.
 * The verifier itself (sim/evidence-verify.ts) stands with the rest of the world outside the unit,
 * so that the simulated site can show a recording VERIFIED without importing a tool.
 */
import { main } from '../sim/evidence-verify';

export * from '../sim/evidence-verify';

if (require.main === module) process.exitCode = main(process.argv.slice(2));

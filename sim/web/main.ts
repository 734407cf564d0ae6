/**
 * `npm run sim:web`: the simulator page on http://127.0.0.1:8080/ (docs/sim-web.md).
 *
 *   npm run sim:web -- [--port N] [--evidence DIR] [--profile QUIRK[,QUIRK]] [--profile2 …]
 */
import { startWebSim } from './server';

function opt(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

async function main(): Promise<void> {
  const portText = opt('port');
  const port = portText === undefined ? 8080 : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be 0-65535');
  const profile = opt('profile');
  const sim = await startWebSim({
    port,
    evidenceDir: opt('evidence'),
    profiles: { primary: profile, secondary: opt('profile2') ?? profile }
  });
  const c = sim.unit.app.config();
  console.log(
    `simulated unit ${c.unitId}: open ${sim.url} (hold the button ${c.holdMs} ms to raise the alarm; Ctrl-C stops)`
  );
  const stop = () => {
    sim.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  const msg = e instanceof Error ? e.message : String(e);
  console.error(`sim:web: ${/EADDRINUSE/.test(msg) ? 'that port is taken: try --port 0 for any free one' : msg}`);
  process.exit(1);
});

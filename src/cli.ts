#!/usr/bin/env node
import { startKeyAtLaunch } from './cli/early-key.js';

// Before the rest of the CLI loads: scrypt then runs on the thread pool meanwhile.
startKeyAtLaunch(process.argv.slice(2), process.env);
const { installSignalHandlers, main } = await import('./cli/main.js');
const { tuneProcess } = await import('./repository/process-tuning.js');

// The CLI owns its process: V8 gc tuning and SIGHUP (restic's lock probe) are its to set.
tuneProcess();
installSignalHandlers({ stderr: (s) => process.stderr.write(s) });

const code = await main(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
});
process.exitCode = code;
if (code !== 0) {
  // A failed command may leave requests hanging on a server that stopped answering: exit once
  // the output is out instead of waiting for their timeouts.
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
  process.exit(code);
}

#!/usr/bin/env node
import { installSignalHandlers, main } from './cli/main.js';

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

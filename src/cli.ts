#!/usr/bin/env node
import { installSignalHandlers, main } from './cli/main.js';

installSignalHandlers({ stderr: (s) => process.stderr.write(s) });

const code = await main(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
});
process.exitCode = code;

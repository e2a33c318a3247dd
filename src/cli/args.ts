/**
 * A small option parser with restic's conventions: `--flag value`, `--flag=value`,
 * short aliases, repeatable options, and `--` to end options.
 */
import { UsageError } from '../errors.js';

export interface OptionSpec {
  name: string;
  short?: string;
  /** 'bool' takes no value; 'string' one; 'list' may repeat; 'count' counts (-v, -vv, --verbose=2). */
  kind: 'bool' | 'string' | 'list' | 'count';
  help: string;
  env?: string;
}

/** What help, completions and man pages show of a command. */
export interface CommandInfo {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec[];
}

export interface Parsed {
  opts: Record<string, string | boolean | string[] | number | undefined>;
  args: string[];
}

export function parseArgs(argv: string[], specs: OptionSpec[], command: string): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const opts: Parsed['opts'] = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq >= 0 ? a.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name} (see "restic-ts ${command} --help")`);
    } else if (a.startsWith('-') && a.length > 1) {
      spec = byShort.get(a[1]!);
      if (!spec) throw new UsageError(`unknown shorthand flag: '${a[1]}' in ${a}`);
      if (spec.kind === 'count' && /^-(.)\1*$/.test(a)) {
        opts[spec.name] = ((opts[spec.name] as number | undefined) ?? 0) + a.length - 1;
        continue;
      }
      if (a.length > 2) inline = a.slice(2);
    } else {
      args.push(a);
      continue;
    }
    if (spec.kind === 'bool') {
      if (inline !== undefined && !['true', 'false'].includes(inline)) throw new UsageError(`invalid value for --${spec.name}: ${inline}`);
      opts[spec.name] = inline !== 'false';
      continue;
    }
    if (spec.kind === 'count') {
      if (inline !== undefined && !/^\d+$/.test(inline))
        throw new UsageError(
          `invalid argument "${inline}" for "--${spec.name}" flag: strconv.ParseInt: parsing "${inline}": invalid syntax`,
        );
      opts[spec.name] = inline !== undefined ? Number(inline) : ((opts[spec.name] as number | undefined) ?? 0) + 1;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`flag needs an argument: --${spec.name}`);
    if (spec.kind === 'list') ((opts[spec.name] ??= []) as string[]).push(value);
    else opts[spec.name] = value;
  }
  return { opts, args };
}

export function formatHelp(specs: OptionSpec[]): string {
  return specs
    .map((s) => {
      const flag = (s.short ? `-${s.short}, ` : '    ') + `--${s.name}` + (s.kind === 'bool' || s.kind === 'count' ? '' : ' value');
      return `  ${flag.padEnd(32)} ${s.help}${s.env ? ` (env ${s.env})` : ''}`;
    })
    .join('\n');
}

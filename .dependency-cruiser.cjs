/**
 * The layer rule (README "Architecture"): a module imports only from its own layer or below.
 *   errors/version → go, crypto, compress, chunker → format → backends → cache → parallel → repository
 *   → operations → ui, operator → cli → the entry points (index.ts, cli.ts)
 */
const LAYERS = [
  ['base', '^src/(errors|version)\\.ts$'],
  ['primitives', '^src/(go|crypto|compress|chunker)/'],
  ['format', '^src/format/'],
  ['backends', '^src/backends/'],
  ['cache', '^src/cache/'],
  ['parallel', '^src/parallel/'],
  ['repository', '^src/repository/'],
  ['operations', '^src/(archiver|restorer|checker|prune|forget|copy|repair|walker|dump|rest-server)/'],
  ['presentation', '^src/(ui|operator)/'],
  ['cli', '^src/cli/'],
  ['entry', '^src/(index|cli)\\.ts$'],
];

const upward = LAYERS.slice(0, -1).map(([name, from], i) => ({
  name: `no-upward-from-${name}`,
  comment: `${name} may import only its own layer or lower ones`,
  severity: 'error',
  from: { path: from },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => p) },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-circular',
      comment: 'no import cycles, type-only ones included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'presentation-apart',
      comment: 'ui and operator do not import each other',
      severity: 'error',
      from: { path: '^src/(ui|operator)/' },
      to: { path: '^src/(ui|operator)/', pathNot: '^src/$1/' },
    },
    {
      name: 'format-is-pure',
      comment: 'format codecs do no I/O and start no workers',
      severity: 'error',
      from: { path: '^src/format/' },
      to: { path: ['^(node:)?(fs|fs/promises|worker_threads|net|http|https|child_process)$'], dependencyTypes: ['core'] },
    },
    {
      name: 'backends-import-only-errors-and-ids',
      comment: 'a backend knows files, not the repository',
      severity: 'error',
      from: { path: '^src/backends/' },
      to: { path: '^src/', pathNot: ['^src/backends/', '^src/errors\\.ts$', '^src/format/id\\.ts$'] },
    },
    {
      name: 'commands-apart',
      comment: 'a CLI command never imports another; shared code moves down a layer',
      severity: 'error',
      from: { path: '^src/cli/cmd_' },
      to: { path: '^src/cli/cmd_' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  // No tsConfig or enhancedResolveOptions: there are no path aliases, and which of a package's
  // files an import resolves to changes no rule's outcome.
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
  },
};

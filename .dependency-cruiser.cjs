// The dependency rules (docs/architecture.md, "House style"): layers point one way —
//   core ← adapters ← engine | steps | inventory | prewarm | agent ← composition ← cli | http
// (render, the pure manifests, sits on core; steps use it for the node agent's objects) — and
// nothing anywhere imports in a cycle. `npm test` runs this first; a violation fails the run.
const layer = (name, path, allowed) => ({
  name: `${name}-layer`,
  comment: `src/${path} may import only ${allowed.join(', ')} (and packages)`,
  severity: 'error',
  from: { path: `^src/${path}` },
  to: { path: '^src/', pathNot: allowed.map((a) => `^src/${a}`) },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle (static or dynamic) anywhere in the repository',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    layer('core', 'core/', ['core/']),
    layer('adapters', 'adapters/', ['core/', 'adapters/']),
    layer('render', 'render/', ['core/', 'render/']),
    layer('engine', 'engine/', ['core/', 'adapters/', 'engine/']),
    layer('inventory', 'inventory/', ['core/', 'adapters/', 'inventory/']),
    layer('prewarm', 'prewarm/', ['core/', 'adapters/', 'prewarm/']),
    layer('agent', 'agent/', ['core/', 'adapters/', 'agent/']),
    layer('steps', 'steps/', ['core/', 'adapters/', 'render/', 'inventory/', 'prewarm/', 'steps/']),
    layer('http', 'http/', ['core/', 'adapters/', 'engine/', 'inventory/', 'http/']),
    {
      name: 'composition-is-below-cli-and-http',
      severity: 'error',
      from: { path: '^src/composition\\.ts$' },
      to: { path: '^src/(cli|http)/' },
    },
    {
      name: 'product-never-imports-lab-tests-or-bench',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(lab|test|bench|scripts)/' },
    },
    {
      name: 'lab-never-imports-tests-or-bench',
      severity: 'error',
      from: { path: '^lab/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.lab|specs|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

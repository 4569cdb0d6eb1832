// ESLint: typescript-eslint's recommended rules over everything Node runs. Formatting is Prettier's.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.lab/', '.peers/', 'test-artifacts/', 'specs/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Only the composition root builds adapters (peers' clients, the status store, the Lease); every
    // other part gets them handed in, so what a step talks to is decided in one place.
    files: ['src/**/*.ts'],
    ignores: ['src/composition.ts', 'src/adapters/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'NewExpression[callee.name=/^(KubeCluster|DistributionClient|GiteaForge|HarborApi|StatusStore|SingleFlight)$/]',
          message: 'adapters are built in src/composition.ts only',
        },
        {
          selector: "CallExpression[callee.object.name='KubeCluster'][callee.property.name='connect']",
          message: 'connect through connectCluster() in src/composition.ts',
        },
      ],
    },
  },
  {
    // Tests read arbitrary JSON and YAML documents (API answers, rendered objects) field by field.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The console page's script runs in the browser.
    files: ['src/http/console/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
);

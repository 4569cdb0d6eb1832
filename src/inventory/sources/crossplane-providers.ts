// Crossplane Provider packages: OCI images a provider is installed from.
import type { SourceContext, TetherSource } from './source.ts';

interface Provider {
  metadata: { name: string };
  spec: { package?: string };
}

function listProviders(ctx: SourceContext): Promise<Provider[]> {
  return ctx.list('providers.pkg.crossplane.io', async () => {
    const list = await ctx.cluster.custom.listClusterCustomObject({
      group: 'pkg.crossplane.io',
      version: 'v1',
      plural: 'providers',
    });
    // The custom objects API answers untyped; a Provider is read for its name and package only.
    return list as { items: Provider[] };
  });
}

export const crossplaneProviderSource: TetherSource = {
  name: 'Crossplane providers',
  async collect(ctx) {
    const found = await Promise.all(
      (await listProviders(ctx))
        .filter((p) => p.spec.package)
        .map((p) =>
          ctx.images.tether(
            `Provider ${p.metadata.name}`,
            'spec.package',
            p.spec.package as string,
            'crossplane-package',
          ),
        ),
    );
    return found.filter((t) => t !== undefined);
  },
};

// Process entry of the lab identity provider: `node lab/oidc/main.ts <config.json>`.
import { runConfiguredDaemon } from '../processes.ts';
import { LabOidc, type LabOidcConfig } from './provider.ts';

await runConfiguredDaemon<LabOidcConfig>('lab/oidc/main.ts', async (config) => {
  const oidc = new LabOidc(config);
  await oidc.start();
  console.log(`lab OIDC provider listening on ${oidc.issuer}`);
  return oidc;
});

// The package's version, the one constant: the CLI's --version, the image tag the install defaults to,
// the render's labels. Read from package.json (the packed CLI carries it beside its code).
import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
export const DESCRIPTION: string = pkg.description;
/** The commit a packed build came from (scripts/build.ts writes it); '' in the source tree. */
export const BUILT_FROM: string = (pkg as { commit?: string }).commit ?? '';

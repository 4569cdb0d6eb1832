// The values an option or argument may take, where the parser checks them (`choices`): shared by the
// commands that use them and the shell completion that offers them.
export const OUTPUTS = ['table', 'json', 'yaml'] as const;
export const SERVE_ROLES = ['all', 'api', 'controller'] as const;
export type ServeRole = (typeof SERVE_ROLES)[number];
export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

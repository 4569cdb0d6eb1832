// Shell completion for bash and zsh, generated from the parser's own command tree: every command, the
// options each takes, the values an option with choices accepts, and files where an option takes one.
// Nothing is listed twice: a command or option added to main.ts completes without touching this file.
import type { Command, Option } from 'commander';
import type { Shell } from './choices.ts';

/** Options whose value is a path. */
const FILE_OPTIONS = new Set(['--values', '--kubeconfig', '--config']);

interface Spec {
  name: string;
  description: string;
  options: Array<{
    flags: string[];
    description: string;
    choices: readonly string[];
    file: boolean;
    takesValue: boolean;
  }>;
  /** The values of its first argument, when it has a fixed set (completion <shell>). */
  argumentChoices: readonly string[];
}

function specs(program: Command): Spec[] {
  const optionSpec = (o: Option) => ({
    flags: [o.short, o.long].filter((f): f is string => Boolean(f)),
    description: o.description,
    choices: o.argChoices ?? [],
    file: FILE_OPTIONS.has(o.long ?? ''),
    takesValue: o.required || o.optional,
  });
  return program.commands.map((c) => ({
    name: c.name(),
    description: c.description(),
    options: [
      ...c.options.map(optionSpec),
      { flags: ['-h', '--help'], description: 'help', choices: [], file: false, takesValue: false },
    ],
    argumentChoices: c.registeredArguments[0]?.argChoices ?? [],
  }));
}

export function completionScript(program: Command, shell: Shell): string {
  return shell === 'bash' ? bash(specs(program)) : zsh(specs(program));
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function bash(commands: Spec[]): string {
  const names = commands.map((c) => c.name).join(' ');
  const perCommand = commands
    .map((c) => {
      const flags = c.options.flatMap((o) => o.flags).join(' ');
      const values = c.options
        .filter((o) => o.choices.length || o.file)
        .map(
          (o) =>
            `        ${o.flags.join('|')}) ${o.file ? 'COMPREPLY=($(compgen -f -- "$cur"))' : `COMPREPLY=($(compgen -W ${quote(o.choices.join(' '))} -- "$cur"))`}; return ;;`,
        )
        .join('\n');
      const argument = c.argumentChoices.length
        ? `      if [[ "$cur" != -* ]]; then COMPREPLY=($(compgen -W ${quote(c.argumentChoices.join(' '))} -- "$cur")); return; fi\n`
        : '';
      return `    ${c.name})\n      case "$prev" in\n${values}\n      esac\n${argument}      COMPREPLY=($(compgen -W ${quote(flags)} -- "$cur")) ;;`;
    })
    .join('\n');
  return `# bash completion for cutover: source <(cutover completion bash)
_cutover() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W ${quote(`${names} help --help --version`)} -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
    help) COMPREPLY=($(compgen -W ${quote(names)} -- "$cur")) ;;
${perCommand}
  esac
}
complete -F _cutover cutover
`;
}

function zsh(commands: Spec[]): string {
  // Inside zsh's single quotes: brackets and colons are _arguments syntax, a quote ends the string.
  const escape = (text: string) => text.replace(/[[\]:]/g, (ch) => `\\${ch}`).replace(/'/g, `'\\''`);
  const described = commands.map((c) => `    '${c.name}:${escape(c.description)}'`).join('\n');
  const perCommand = commands
    .map((c) => {
      const args = c.options.map((o) => {
        const action = o.file
          ? ':file:_files'
          : o.choices.length
            ? `:value:(${o.choices.join(' ')})`
            : o.takesValue
              ? ':value:'
              : '';
        const names = o.flags.length > 1 ? `(${o.flags.join(' ')})'{${o.flags.join(',')}}'` : o.flags[0];
        return `        '${names}[${escape(o.description)}]${action}'`;
      });
      if (c.argumentChoices.length) args.push(`        ':${c.name}:(${c.argumentChoices.join(' ')})'`);
      return `    (${c.name})\n      _arguments \\\n${args.join(' \\\n')}\n      ;;`;
    })
    .join('\n');
  return `#compdef cutover
# zsh completion for cutover: cutover completion zsh > "\${fpath[1]}/_cutover"
_cutover() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  local command=$words[2]
  shift words
  (( CURRENT-- ))
  case $command in
    (help) _describe 'command' commands ;;
${perCommand}
  esac
}
_cutover "$@"
`;
}

// Git remotes as people write them: `https://h/o/r.git`, `https://h/o/r/` and `https://h/o/r` are one repository.

export function sameRepoURL(a: string | undefined, b: string): boolean {
  const norm = (u: string) => u.replace(/\/+$/, '').replace(/\.git$/, '');
  return Boolean(a) && norm(a!) === norm(b);
}

// `-o table|json|yaml`, as kubectl has it: every command that prints objects takes it. JSON and YAML
// print the same document; a table is the command's own.
import { stringify } from 'yaml';

/** Prints `document` as JSON or YAML and returns true; false for `table` (the caller prints its table). */
export function printDocument(output: string, document: unknown): boolean {
  if (output === 'json') console.log(JSON.stringify(document, null, 2));
  else if (output === 'yaml') process.stdout.write(stringify(document));
  else return false;
  return true;
}

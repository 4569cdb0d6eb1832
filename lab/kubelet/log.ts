// The lab kubelet's log (kubelet.log): one timestamped line an event.
export function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}

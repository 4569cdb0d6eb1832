export async function benchInventory(_args: string[]): Promise<void> {
  throw new Error('not yet');
}

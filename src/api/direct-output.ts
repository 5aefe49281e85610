// Direct output: a writer that owns a file descriptor (the Garden server's
// stream connection) can let the backend write a process's output into it
// itself, so the bytes no longer pass through Node at all.
//
// The backend offers once, by calling `writer[directOutput](takeOver)`. The
// writer calls takeOver(fd) when it has a descriptor. takeOver stops the
// backend writing through the Writable, lets every byte already on its way
// reach the writer, then calls fd(): the writer resolves it once all it was
// given has left (or with null to decline). takeOver resolves with a function
// that ends the direct output early, or null if the backend kept writing
// through the Writable.

export const directOutput = Symbol('node-garden.directOutput');

export type TakeOver = (fd: () => Promise<number | null>) => Promise<(() => void) | null>;

export interface DirectOutputWriter {
  [directOutput](takeOver: TakeOver): void;
}

export function acceptsDirectOutput(w: unknown): w is DirectOutputWriter {
  return typeof w === 'object' && w !== null && typeof (w as Partial<DirectOutputWriter>)[directOutput] === 'function';
}

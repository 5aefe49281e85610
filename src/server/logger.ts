// Logging seam: pino-compatible call shape (`log.info(fields, msg)`), so a
// pino logger can be injected as is; the default writes nothing.

export interface Logger {
  debug(fields: object, msg?: string): void;
  info(fields: object, msg?: string): void;
  error(fields: object, msg?: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, error() {} };

const LEVELS = { debug: 20, info: 30, error: 50 } as const;
export type LogLevel = keyof typeof LEVELS;

/** A tiny JSON-lines logger: one object per line, pino's field names. */
export function createJsonLogger(
  out: { write(line: string): unknown } = process.stdout,
  minLevel: LogLevel = 'info',
  base: object = { name: 'garden' },
): Logger {
  const write = (level: LogLevel) => (fields: object, msg?: string) => {
    if (LEVELS[level] < LEVELS[minLevel]) return;
    const f = fields instanceof Error ? { err: fields } : fields;
    const rec: Record<string, unknown> = { level: LEVELS[level], time: Date.now(), ...base, ...f };
    if (msg !== undefined) rec.msg = msg;
    if (rec.err instanceof Error) rec.err = { type: rec.err.name, message: rec.err.message, stack: rec.err.stack };
    out.write(JSON.stringify(rec, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
  };
  return { debug: write('debug'), info: write('info'), error: write('error') };
}

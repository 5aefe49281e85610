// The debug listener: `GET /debug/vars` as Go's expvar answers it, with a
// `memstats` object whose names follow Go's runtime.MemStats.

import http from 'node:http';

export function debugVars(): string {
  const m = process.memoryUsage();
  const memstats = {
    Alloc: m.heapUsed + m.external + m.arrayBuffers,
    TotalAlloc: m.heapUsed + m.external + m.arrayBuffers,
    Sys: m.rss,
    HeapAlloc: m.heapUsed,
    HeapSys: m.heapTotal,
    HeapInuse: m.heapUsed,
  };
  return JSON.stringify({ cmdline: process.argv, memstats, uptime: process.uptime() }) + '\n';
}

export function createDebugServer(): http.Server {
  return http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/debug/vars') {
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(debugVars());
      return;
    }
    res.statusCode = 404;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.end('404 page not found\n');
  });
}
